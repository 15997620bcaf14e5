"""The one k=v option parser: value conversion, and errors naming the option and the bad piece."""
import pytest

from offside_data.options import OptionError, parse_kv
from offside_eval.models import ModelError, parse_model_args


def test_values_are_converted():
    got = parse_kv(" pretrained=/m/a=b , batch_size=8,lr=1e-4, flag=True,off=false,adapter=None,name=qwen,,", "--x")
    assert got == {"pretrained": "/m/a=b", "batch_size": 8, "lr": 1e-4, "flag": True, "off": False, "adapter": None,
                   "name": "qwen"}
    assert type(got["batch_size"]) is int and type(got["lr"]) is float
    assert parse_kv(None, "--x") == parse_kv("", "--x") == {}


@pytest.mark.parametrize("text, message", [
    ("pretrained=/m,dtype", "--model_args: 'dtype' is not key=value"),
    ("=3", "--model_args: '=3' is not key=value"),
    ("dtype=float32,dtype=bf16", "--model_args: dtype given twice"),
])
def test_errors_name_option_and_piece(text, message):
    with pytest.raises(OptionError, match=message):
        parse_kv(text, "--model_args")
    with pytest.raises(ModelError, match=message):  # what the offside-eval CLI reports in one line
        parse_model_args(text)
