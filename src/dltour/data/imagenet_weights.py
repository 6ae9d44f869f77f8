"""torchvision's ImageNet weights for VGG (IMAGENET1K_V1): where to find them and how to fetch them.

A study asks for an architecture's state dict (a dict of tensors in torchvision's module names)
and loads it into its model itself; this module knows nothing of the model. Resolution order:

1. a local file in ``weights_dir`` (``data.imagenet_weights_dir``): torchvision's file name
   (e.g. ``vgg16-397923af.pth``) or ``<arch>.pth``;
2. torch's hub cache (``$TORCH_HOME/hub/checkpoints``), where torchvision keeps what it downloaded;
3. with ``download=True``, torchvision's download (its sha256 prefix checked; cached under
   ``$TORCH_HOME``); offline, a ``DataUnavailable`` naming the URL and the folder to put the file in.
"""

from __future__ import annotations

from pathlib import Path

from dltour.errors import DltourError
from dltour.data.source import DataUnavailable

ARCHS = ("vgg16", "vgg19", "vgg16_bn", "vgg19_bn")


def imagenet_weights(arch: str):
    """torchvision's ``WeightsEnum`` member for ``arch`` (IMAGENET1K_V1): its URL and download."""
    import torchvision.models as tvm

    if arch not in ARCHS:
        raise DltourError(f"no ImageNet weights for {arch!r}; choose one of {', '.join(ARCHS)}")
    enum = {"vgg16": tvm.VGG16_Weights, "vgg19": tvm.VGG19_Weights,
            "vgg16_bn": tvm.VGG16_BN_Weights, "vgg19_bn": tvm.VGG19_BN_Weights}[arch]
    return enum.IMAGENET1K_V1


def weights_filename(arch: str) -> str:
    """torchvision's file name, e.g. ``vgg16-397923af.pth`` (the suffix is a sha256 prefix)."""
    return Path(imagenet_weights(arch).url).name


def hub_dir() -> Path:
    """torch's hub cache of downloaded weights (``$TORCH_HOME/hub/checkpoints``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def load_state_dict_file(path: str | Path) -> dict:
    """A state dict (dict of tensors) read from ``path`` with ``weights_only=True``."""
    import torch

    path = Path(path).expanduser()
    if not path.exists():
        raise DataUnavailable(f"weights file {str(path)!r} does not exist")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataUnavailable(f"cannot read weights file {path}: {type(e).__name__}: {(str(e).splitlines() or [''])[0]}") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise DataUnavailable(f"{path} is not a state dict (a dict of tensors) in torchvision's format")
    return sd


def find_local_weights(arch: str, weights_dir: str | Path | None = None) -> Path | None:
    """A local ImageNet weights file for ``arch``: in ``weights_dir`` (torchvision's file name or
    ``<arch>.pth``), else in torch's hub cache. None if absent."""
    names = [weights_filename(arch), f"{arch}.pth"]
    folders = [Path(weights_dir).expanduser()] if weights_dir else []
    folders.append(hub_dir())
    for folder in folders:
        for n in names:
            if (folder / n).is_file():
                return folder / n
    return None


def get_imagenet_state_dict(arch: str, weights_dir: str | Path | None = None, download: bool = True,
                            progress: bool = False) -> dict:
    """The ImageNet state dict of ``arch``: a local file (``find_local_weights``) or torchvision's
    download (``download=True``; its sha256 prefix is checked, the file is cached under ``$TORCH_HOME``)."""
    if weights_dir is not None and not Path(weights_dir).expanduser().is_dir():
        raise DataUnavailable(f"data.imagenet_weights_dir {str(weights_dir)!r} is not a folder (it should hold "
                              f"{weights_filename(arch)})")
    local = find_local_weights(arch, weights_dir)
    if local is not None:
        return load_state_dict_file(local)
    w = imagenet_weights(arch)
    if not download:
        raise DataUnavailable(f"ImageNet weights for {arch} ({weights_filename(arch)}) are not available locally; "
                              f"download {w.url} into {weights_dir or hub_dir()}")
    try:
        return w.get_state_dict(progress=progress, check_hash=True)
    except Exception as e:  # offline (URLError), or a hash mismatch (RuntimeError)
        raise DataUnavailable(f"cannot download ImageNet weights for {arch} from {w.url} ({type(e).__name__}: "
                              f"{str(e)[:120]}); put {weights_filename(arch)} in a folder and pass "
                              f"--set data.imagenet_weights_dir=FOLDER") from None
