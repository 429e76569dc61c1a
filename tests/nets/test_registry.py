"""The recognizer and codec registries: a user adds one in one file, the config accepts it when
it is loaded, and an unknown name is refused then, with the valid ones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mirrornet.codecs import CODECS, OneHotCodec, build_codec, register_codec
from mirrornet.config import ConfigError, load_config
from mirrornet.nets import PAPER_RECOGNIZERS, RECOGNIZERS, build_recognizer, register_recognizer


class _Tiny(nn.Module):
    def __init__(self, num_joints: int) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, num_joints, 4, stride=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


@pytest.fixture
def tiny_recognizer():
    @register_recognizer("tiny_test_net", input_size=(32, 32), divisor=4)
    def tiny_test_net(num_joints: int = 16) -> nn.Module:
        return _Tiny(num_joints)

    yield tiny_test_net
    RECOGNIZERS.pop("tiny_test_net")


def test_a_registered_recognizer_is_built_and_accepted_by_the_config(tiny_recognizer) -> None:
    entry = RECOGNIZERS["tiny_test_net"]
    assert (entry.input_size, entry.stride, entry.divisor, entry.paper) == ((32, 32), 4, 4, False)
    net = build_recognizer("tiny_test_net", num_joints=5)
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 5, 8, 8)
    assert load_config(None, ["model.recognizer=tiny_test_net"]).model.recognizer == "tiny_test_net"
    with pytest.raises(ValueError, match="registered twice"):
        register_recognizer("tiny_test_net", input_size=(32, 32), divisor=4)(lambda num_joints=16: _Tiny(num_joints))


def test_an_unknown_recognizer_or_codec_is_refused_when_the_config_is_loaded() -> None:
    with pytest.raises(ConfigError, match=r"config key 'model.recognizer' must be one of hourglass, .*hrnet_w8; got 'vgg'"):
        load_config(None, ["model.recognizer=vgg"])
    with pytest.raises(ConfigError, match=r"config key 'data.codec' must be one of onehot, gaussian; got 'dark'"):
        load_config(None, ["data.codec=dark"])


def test_the_registry_carries_each_recognizers_metadata() -> None:
    assert PAPER_RECOGNIZERS == ("hourglass", "resnet50", "hrnet_w32")  # Table 8's order
    for name in PAPER_RECOGNIZERS:
        assert RECOGNIZERS[name].input_size == (256, 256) and RECOGNIZERS[name].stride == 4
    # The hourglass' sides are multiples of 4 · 2^depth, the ResNet's and HRNet's of 32.
    assert (RECOGNIZERS["hourglass"].divisor, RECOGNIZERS["hourglass_1x32"].divisor) == (64, 32)
    assert RECOGNIZERS["resnet50"].divisor == RECOGNIZERS["hrnet_w8"].divisor == 32
    with torch.device("meta"):
        for name, entry in RECOGNIZERS.items():
            h, w = entry.input_size
            out = build_recognizer(name, num_joints=3).eval()(torch.empty(1, 3, h, w))
            last = out[-1] if isinstance(out, list) else out
            assert tuple(last.shape) == (1, 3, h // entry.stride, w // entry.stride), name


def test_a_registered_codec_is_built_by_name() -> None:
    @register_codec("onehot_test")
    def onehot_test(heatmap_size, stride, sigma):
        return OneHotCodec(heatmap_size, stride)

    try:
        assert isinstance(build_codec("onehot_test", (8, 8), stride=4), OneHotCodec)
        assert load_config(None, ["data.codec=onehot_test"]).data.codec == "onehot_test"
        with pytest.raises(ValueError, match="registered twice"):
            register_codec("onehot_test")(onehot_test)
    finally:
        CODECS.pop("onehot_test")
    with pytest.raises(ValueError, match="unknown codec kind 'onehot_test'"):
        build_codec("onehot_test", (8, 8))
