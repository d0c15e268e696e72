"""Loads a Retort-saved residual student into the equivalent PyTorch module with strict=True and
compares its logits with Retort's. Needs torch (the venv of scripts/torch-venv) and safetensors;
CI does not run it (Tests/RetortLangTests/TorchModuleTests checks the same names and logits against
committed fixtures). Usage:

    retort run Tests/Fixtures/residual_student.rt      # writes /tmp/retort-residual-student.*
    /root/.venvs/torch/bin/python Tests/Fixtures/check_residual_torch.py
"""

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file

from generate_trust import residual_module

m = residual_module()
result = m.load_state_dict(load_file("/tmp/retort-residual-student.safetensors"), strict=True)
m.eval()
data = load_numpy("/tmp/retort-residual-student-logits.safetensors")
x, retort_logits = data["x"], data["logits"]
with torch.no_grad():
    torch_logits = m(torch.from_numpy(x)).numpy()
diff = np.abs(torch_logits - retort_logits).max()
print(f"strict load: {result}; num_batches_tracked {int(m[2].bn.num_batches_tracked)}; "
      f"max |torch - retort| over {x.shape[0]} inputs: {diff:.3g}")
assert diff < 1e-5
