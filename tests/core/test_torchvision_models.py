"""load_torchvision: pretrained where the network allows, a clear fallback where it does not."""

import pytest
import torchvision

from ddp_widgets.zoo import PretrainedUnavailableWarning, load_torchvision


def test_offline_env_builds_random_weights_with_a_warning(monkeypatch):
    monkeypatch.setenv("DDP_WIDGETS_OFFLINE", "1")
    with pytest.warns(PretrainedUnavailableWarning, match="DDP_WIDGETS_OFFLINE is set"):
        model, pretrained = load_torchvision("resnet18")
    assert pretrained is False and not model.training
    assert sum(p.numel() for p in model.parameters()) == 11_689_512


def test_download_failure_falls_back(monkeypatch):
    monkeypatch.delenv("DDP_WIDGETS_OFFLINE", raising=False)
    real = torchvision.models.get_model

    def fake(name, weights=None, **kw):
        if weights is not None:
            raise OSError("no route to host")
        return real(name, weights=None, **kw)

    monkeypatch.setattr(torchvision.models, "get_model", fake)
    with pytest.warns(PretrainedUnavailableWarning, match="no route to host"):
        _, pretrained = load_torchvision("squeezenet1_0")
    assert pretrained is False


def test_no_warning_without_pretrained_and_bad_name():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, pretrained = load_torchvision("squeezenet1_0", pretrained=False)
    assert pretrained is False
    with pytest.raises(ValueError, match="list_models"):
        load_torchvision("resnet_nope")
