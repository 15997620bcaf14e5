"""lmms-eval model manifests, read through the `lmms_eval.models` entry points (setup.cfg)."""
from lmms_eval.models.registry_v2 import ModelManifest

OFFSIDE_QWEN2_5_VL = ModelManifest(model_id="offside_qwen2_5_vl",
                                   simple_class_path="offside_eval.lmms.adapter.OffsideQwen25VL")
OFFSIDE_HF_VLM = ModelManifest(model_id="offside_hf_vlm", simple_class_path="offside_eval.lmms.adapter.OffsideHFVLM")
