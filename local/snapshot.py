"""What the embedded AWS holds, saved and put back: the state ``terraform apply`` left in it.

``terraform apply`` of the root stack takes about 100 s, nearly all of it the AWS provider's
own fixed waits (``stack/terraform.py``, ``apply_local``). A test suite that stands the stack up
a dozen times applies it once per set of variables instead, saves moto's backends right after
the apply (``capture``) and puts them back into a fresh embedded AWS for each run (``restore``).
What runs is still exactly what Terraform made; ``make local`` applies afresh every time.

A snapshot is a pickle of every moto backend in use, keyed by service, account and region.
moto's objects pickle as they are, except for a few that hold process state, which are saved
as what rebuilds them: locks and conditions (fresh and unlocked), weak-value dictionaries (the
values, held strongly elsewhere in the same pickle), and private keys (PEM).
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import pickle
import sys
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

_LOCK = type(threading.Lock())
_RLOCK = type(threading.RLock())


def _private_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, password=None)


def _weak_values(items: dict[Any, Any]) -> weakref.WeakValueDictionary:
    return weakref.WeakValueDictionary(items)


def _default_dict(factory: Any, items: dict[Any, Any]) -> collections.defaultdict:
    return collections.defaultdict(factory, items)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _RLOCK):
            return threading.RLock, ()
        if isinstance(obj, _LOCK):
            return threading.Lock, ()
        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        if isinstance(obj, weakref.WeakValueDictionary):
            return _weak_values, (dict(obj.items()),)
        if isinstance(obj, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            pem = obj.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return _private_key, (pem,)
        if (
            isinstance(obj, collections.defaultdict)
            and obj.default_factory is not None
            and getattr(obj.default_factory, "__name__", "") == "<lambda>"
        ):
            # moto's ``defaultdict(lambda: {})``: a lambda does not pickle; the empty value's type does.
            empty = obj.default_factory()
            if empty != type(empty)():
                raise pickle.PicklingError(f"a defaultdict's factory makes {empty!r}, not an empty container")
            return _default_dict, (type(empty), dict(obj))
        return NotImplemented


def capture() -> bytes:
    """Every moto backend in use in this process, pickled."""
    from moto.core.base_backend import BackendDict, backend_lock

    with backend_lock:
        state = {
            backends.service_name: {account: dict(regions) for account, regions in backends.items()}
            for backends in BackendDict._instances
        }
        buffer = io.BytesIO()
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(state)
    return buffer.getvalue()


def restore(snapshot: bytes) -> list[str]:
    """Replace moto's backends in this process with a ``capture``; returns the services restored.

    Only a snapshot this project wrote is ever loaded (it is a pickle)."""
    from moto.backends import get_backend
    from moto.core.base_backend import BackendDict, backend_lock

    state: dict[str, dict[str, dict[str, Any]]] = pickle.loads(snapshot)
    with backend_lock:
        BackendDict.reset()
        for service, accounts in state.items():
            backends = get_backend(service)
            for account, regions in accounts.items():
                account_backends = backends[account]
                for region, backend in regions.items():
                    dict.__setitem__(account_backends, region, backend)
    return sorted(state)


@dataclass(frozen=True)
class Applied:
    """One ``terraform apply`` of the root stack into the embedded AWS: the variables it was
    given beyond the environment's tfvars, the stack's outputs, and moto's state right after."""

    variables: dict[str, Any]
    outputs: dict[str, Any]
    state: bytes
    endpoint: str

    @property
    def port(self) -> int:
        """The embedded AWS's port at the apply, which the URLs in the state name."""
        return int(self.endpoint.rsplit(":", 1)[1])

    def restore(self) -> None:
        restore(self.state)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = json.dumps({"variables": self.variables, "outputs": self.outputs, "endpoint": self.endpoint}).encode()
        partial = path.with_suffix(".partial")
        partial.write_bytes(len(header).to_bytes(8, "big") + header + self.state)
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> Applied:
        data = path.read_bytes()
        size = int.from_bytes(data[:8], "big")
        header = json.loads(data[8 : 8 + size])
        return cls(header["variables"], header["outputs"], data[8 + size :], header["endpoint"])


def apply(workdir: Path, variables: dict[str, Any] | None = None, environment: str = "local") -> Applied:
    """``terraform apply`` of the root stack into a fresh embedded AWS, captured; the embedded AWS
    is stopped afterwards, and ``workdir`` keeps the Terraform state."""
    from local.server import EmbeddedAws
    from stack import terraform

    with EmbeddedAws() as aws:
        outputs = terraform.apply_local(aws.endpoint, workdir, environment, variables=variables)
        return Applied(dict(variables or {}), outputs, capture(), aws.endpoint)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.snapshot", description=apply.__doc__)
    parser.add_argument("--out", type=Path, required=True, help="where to write the snapshot")
    parser.add_argument("--workdir", type=Path, required=True, help="where Terraform keeps its state")
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a string variable beside the environment's tfvars",
    )
    args = parser.parse_args(argv)
    variables = dict(item.split("=", 1) for item in args.var)
    apply(args.workdir, variables).save(args.out)
    return 0


if __name__ == "__main__":
    # Through the module's own name, so the pickle refers to local.snapshot, not __main__.
    from local import snapshot as _module

    sys.exit(_module.main())
