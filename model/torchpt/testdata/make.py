#!/usr/bin/python3
"""Writes the torch.save fixtures of package torchpt, with real PyTorch.

Run from this folder with Debian's PyTorch (apt-get install python3-torch; 1.13 here):

    cd model/torchpt/testdata && /usr/bin/python3 make.py

It writes, all small:

  tensors.pt    an OrderedDict of tensors: f32, bf16, f16, f64, int64, a 0-d scalar, an
                empty tensor, and views sharing one storage (a transposed, non-contiguous
                one and a slice with a storage offset)
  tensors.json  each tensor's dtype, shape and values (row-major, as float64)
  proto4.pt     the same tensors pickled with protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE)
  params.pt     a plain dict of nn.Parameter (what the reference's save_legacy_params
                writes: torch._utils._rebuild_parameter)
  linear.pt     nn.Linear(3, 2).state_dict(): an OrderedDict with _metadata (BUILD)
  legacy.pt     tensors.pt's dict in the pre-1.6 format (_use_new_zipfile_serialization=False)
  evil.pt       a dict whose value pickles as posix.system("echo pwned"): must be refused
  unsupported.pt a dict holding a Python list besides a tensor
"""
import collections
import json
import os

import torch

torch.manual_seed(0)
base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8 - 0.5
tensors = collections.OrderedDict()
tensors["f32"] = torch.randn(2, 3)
tensors["bf16"] = torch.tensor([1.0, -2.5, 3.140625, 1e-3], dtype=torch.bfloat16)
tensors["f16"] = torch.tensor([0.5, -65504.0, 6e-8, 1e-5], dtype=torch.float16)
tensors["f64"] = torch.tensor([1.0 / 3.0, -2.0], dtype=torch.float64)
tensors["i64"] = torch.tensor([1, -2, 3], dtype=torch.int64)
tensors["scalar"] = torch.tensor(2.5)
tensors["empty"] = torch.zeros(0, 4)
tensors["base"] = base
tensors["t"] = base.t()  # stride (1, 4): not contiguous, shares base's storage
tensors["slice"] = base[1:, 1:3]  # storage offset 5, stride (4, 1)
assert not tensors["t"].is_contiguous() and tensors["slice"].storage_offset() == 5

torch.save(tensors, "tensors.pt")
torch.save(tensors, "proto4.pt", pickle_protocol=4)
torch.save(tensors, "legacy.pt", _use_new_zipfile_serialization=False)

expect = collections.OrderedDict()
for k, v in tensors.items():
    expect[k] = {
        "dtype": str(v.dtype).replace("torch.", ""),
        "shape": list(v.shape),
        "stride": list(v.stride()),
        "offset": v.storage_offset(),
        "values": [float(x) for x in v.double().flatten().tolist()],
    }
with open("tensors.json", "w") as f:
    json.dump(expect, f, indent=1)
    f.write("\n")

torch.save(
    {"a.weight": torch.nn.Parameter(torch.tensor([0.25, -0.75], dtype=torch.bfloat16))},
    "params.pt",
)
torch.save(torch.nn.Linear(3, 2).state_dict(), "linear.pt")


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


torch.save({"x": torch.zeros(1), "y": Evil()}, "evil.pt")
torch.save({"x": torch.zeros(1), "y": [1, 2]}, "unsupported.pt")
