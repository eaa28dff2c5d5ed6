"""Bad input fails early with a ValueError/TypeError that names the argument and what was received."""

from __future__ import annotations

import pytest
import torch

import refnets.functional as RF
from op_db import OPS, x4


@pytest.mark.parametrize("error_input", [pytest.param(e, id=f"{info.name}-{e.name}") for info in OPS for e in info.error_inputs()])
def test_bad_input_raises_a_clear_error(error_input):
    """Each op's own error inputs (declared in its op-table entry) raise the expected error and message."""
    with pytest.raises(error_input.error, match=error_input.match):
        error_input.call()


def test_every_op_declares_error_inputs():
    assert all(info.error_inputs() for info in OPS)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to put input and weight on two devices")
def test_device_mismatch_is_named():
    with pytest.raises(ValueError, match=r"weight is on cuda:0 but input is on cpu"):
        RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3, 3).cuda())
    with pytest.raises(ValueError, match=r"weight is on cuda:0 but input is on cpu"):
        RF.linear(x4(1, 3), x4(2, 3).cuda())


def test_numpy_integers_are_taken_as_sizes_like_torch_takes_them():
    """stride=np.int64(2) (a size read from a numpy array) is an int to torch's ops, and to refnets'; a bool is not."""
    np = pytest.importorskip("numpy")
    x, w = x4(2, 3, 8, 8), x4(4, 3, 3, 3)
    torch.testing.assert_close(RF.conv2d(x, w, stride=np.int64(2), padding=(np.int32(1), 1)), torch.nn.functional.conv2d(x, w, stride=2, padding=1))
    torch.testing.assert_close(RF.max_pool2d(x, np.int64(2)), torch.nn.functional.max_pool2d(x, 2))
    w2 = x4(4, 1, 3, 3)  # groups, like stride: np.int64(3) was refused ('groups must be a positive int, got np.int64(3)')
    torch.testing.assert_close(RF.conv2d(x, w2[:3], groups=np.int64(3)), torch.nn.functional.conv2d(x, w2[:3], groups=np.int64(3)))
    with pytest.raises(TypeError, match=r"stride must be an int or a pair of ints, got True"):
        RF.conv2d(x, w, stride=True)


def test_one_value_sequences_are_taken_as_torch_takes_them():
    """kernel_size=(2,), stride=[1], padding=(1,): torch's conv2d and pools expand one value to both dimensions;
    refnets' did too little (TypeError '… must be an int or a pair of ints, got (2,)'). Three values stay refused."""
    F = torch.nn.functional
    x, w = x4(2, 3, 8, 8), x4(4, 3, 3, 3)
    torch.testing.assert_close(RF.conv2d(x, w, stride=(2,), padding=[1], dilation=(1,)), F.conv2d(x, w, stride=(2,), padding=[1], dilation=(1,)))
    for ours, theirs in ((RF.max_pool2d, F.max_pool2d), (RF.avg_pool2d, F.avg_pool2d)):
        torch.testing.assert_close(ours(x, (3,), stride=[2], padding=(1,)), theirs(x, (3,), stride=[2], padding=(1,)))
    with pytest.raises(TypeError, match=r"kernel_size must be an int or a pair of ints, got \(2, 2, 2\)"):
        RF.max_pool2d(x, (2, 2, 2))


def _cols():
    return RF.im2col(x4(2, 3, 6, 6), (3, 3), (1, 1), (1, 1))  # (2, 27, 16)


@pytest.mark.parametrize("call, error, match", [
    pytest.param(lambda: RF.im2col([1.0], 3, 1, 1), TypeError, r"x must be a torch.Tensor, got list", id="im2col-not-a-tensor"),
    pytest.param(lambda: RF.im2col(x4(3, 6, 6), 3, 1, 1), ValueError, r"x must be 4-D \(N, C, H, W\), got shape \(3, 6, 6\)", id="im2col-rank"),
    pytest.param(lambda: RF.im2col(x4(2, 3, 6, 6), (0, 0), 1, 1), ValueError, r"kernel must be positive, got \(0, 0\)", id="im2col-kernel-zero"),
    pytest.param(lambda: RF.im2col(x4(2, 3, 6, 6), 3, 0, 1), ValueError, r"stride must be positive, got \(0, 0\)", id="im2col-stride-zero"),
    pytest.param(lambda: RF.im2col(x4(2, 3, 6, 6), 3, 1, (1, 1, 1)), TypeError, r"dilation must be an int or a pair of ints, got \(1, 1, 1\)", id="im2col-dilation-3"),
    pytest.param(lambda: RF.im2col(x4(2, 3, 6, 6), 7, 1, 1), ValueError,
                 r"kernel \(7, 7\) with dilation \(1, 1\) spans \(7, 7\) pixels, larger than the image, \(H, W\) = \(6, 6\)", id="im2col-kernel-too-big"),
    pytest.param(lambda: RF.col2im(_cols()[0], (6, 6), 3, 1, 1), ValueError, r"cols must be 3-D \(N, C·k_h·k_w, L\), got shape \(27, 16\)", id="col2im-rank"),
    pytest.param(lambda: RF.col2im(_cols(), (6, 6), 2, 1, 1), ValueError,
                 r"cols has 27 rows \(shape \(2, 27, 16\)\), which is not a multiple of k_h·k_w = 4 for kernel \(2, 2\)", id="col2im-rows"),
    pytest.param(lambda: RF.col2im(_cols(), (7, 7), 3, 1, 1), ValueError,
                 r"cols has L = 16 columns .* size \(7, 7\) with kernel \(3, 3\), stride \(1, 1\) and dilation \(1, 1\) has 5 × 5 = 25 windows", id="col2im-size"),
    pytest.param(lambda: RF.col2im(_cols(), (2, 2), 3, 1, 1), ValueError, r"spans \(3, 3\) pixels, larger than size \(2, 2\)", id="col2im-size-small"),
    pytest.param(lambda: RF.col2im(_cols(), (6, 6), 3, -1, 1), ValueError, r"stride must be positive, got \(-1, -1\)", id="col2im-stride-negative"),
    pytest.param(lambda: RF.col2im(_cols(), 6.0, 3, 1, 1), TypeError, r"size must be an int or a pair of ints, got 6.0", id="col2im-size-float"),
])
def test_im2col_and_col2im_check_their_arguments(call, error, match):
    """im2col and col2im are public (refnets.functional.__all__) but checked nothing: an int kernel gave 'cannot unpack
    non-iterable int object', stride 0 a ZeroDivisionError, kernel 0 an empty result, a mis-sized col2im a reshape error."""
    with pytest.raises(error, match=match):
        call()


def test_im2col_and_col2im_take_ints_as_unfold_and_fold_do():
    F = torch.nn.functional
    x = x4(2, 3, 7, 6)
    cols = RF.im2col(x, 3, 2, 1)
    torch.testing.assert_close(cols, F.unfold(x, 3, stride=2))
    torch.testing.assert_close(RF.col2im(cols, (7, 6), 3, 2, 1), F.fold(cols, (7, 6), 3, stride=2))


@pytest.mark.parametrize("loss", ["cross_entropy", "quadratic_loss", "binary_cross_entropy"])
@pytest.mark.parametrize("target", [[0, 10], [0, -1]], ids=["too-large", "negative"])
def test_a_class_index_out_of_range_is_named_without_torchs_error_chained(loss, target):
    """On the CPU the losses let scatter/gather check the indices and read their range only when the kernel
    refuses one: the error is still refnets' own, and torch's is not chained under it ("During handling of the
    above exception, another exception occurred")."""
    with pytest.raises(ValueError, match=r"target has class indices in \[-?\d+, \d+\], expected values in \[0, 9\]") as info:
        getattr(RF, loss)(torch.rand(2, 10), torch.tensor(target))
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.parametrize("logits, target", [
    pytest.param(torch.rand(2, 0), torch.tensor([0, 0]), id="batched"),
    pytest.param(torch.rand(2, 0), torch.tensor([0, 0], dtype=torch.uint8), id="batched-uint8"),
    pytest.param(torch.rand(0), torch.tensor(0), id="unbatched"),
])
def test_cross_entropy_over_no_classes_names_the_index_out_of_range(logits, target):
    """With C = 0 every class index is out of range. Before the gather checked the indices, refnets said so
    (as F.cross_entropy refuses it: 'Target 0 is out of bounds'); since, the forward's amax over the empty class
    dimension fails first with an IndexError, which is no RuntimeError, so it escaped the except that turns a
    refused index into refnets' error: torch's 'amax(): Expected reduction dim 1 to have non-zero size.' leaked."""
    with pytest.raises(ValueError, match=r"target has class indices in \[0, 0\], expected values in \[0, -1\] for 0 classes") as info:
        RF.cross_entropy(logits, target)
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_cross_entropy_refusing_an_index_keeps_no_tensor_alive():
    """A refused class index leaves no reference cycle behind: the caller's tensors are freed when the error is,
    without waiting for the cyclic garbage collector (as before the gather checked the indices). cross_entropy
    kept the gather's RuntimeError in a local (``refused = err``), whose traceback holds that very frame, and so
    its input, target and log-softmax, until gc ran."""
    import gc
    import weakref

    logits = torch.rand(4, 3)
    alive = weakref.ref(logits)
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        with pytest.raises(ValueError, match=r"target has class indices in \[0, 3\]"):
            RF.cross_entropy(logits, torch.tensor([0, 3, 1, 2]))
        del logits
        assert alive() is None
    finally:
        if enabled:
            gc.enable()
