"""A framework's own spelling of a layer → the canonical case (`harness solve --mirror`, `harness
translate --from`; case files go through `harness.loader.native`). Each framework's pure module
parses its vocabulary (`from_native`); this module turns the fields into a checked `Case`, errors
located by column."""

from __future__ import annotations

from pydantic import ValidationError

from harness.adapters.native_call import NativeError
from harness.case import Case, CaseError
from harness.loader.common import FieldError
from harness.loader.native import FRAMEWORKS, vocabulary
from harness.loader.schema import CaseSpec, to_case


def case(framework: str, text: str, input_size: list[int], batch: int = 1, dtype: str = "float32",
         case_id: str = "native", in_channels: int | None = None, weight_shape=None) -> Case:
    """The canonical case of a layer or call as `framework` spells it, on inputs of `input_size` (with
    `in_channels` where the spelling takes them from the input, as Keras's layers do, and the weight's
    shape in the framework's layout beside a functional call)."""
    if framework not in FRAMEWORKS:
        raise NativeError(f"no native spelling for {framework!r} yet; known: {', '.join(FRAMEWORKS)}")
    fields = vocabulary(framework).from_native(text, list(input_size), weight_shape=weight_shape,
                                               in_channels=in_channels)
    batch = fields.pop("batch", batch)  # a call that fixes the batch (TF's output_shape) says it
    if "in_channels" not in fields:
        if in_channels is None:
            raise NativeError(f"{framework}'s layer takes its input channels from its input: give in_channels "
                              "(--in-channels)")
        fields["in_channels"] = in_channels
    return checked({"id": case_id, "batch": batch, "input_size": list(input_size), "dtype": dtype, **fields},
                   f"<{framework} call>")


def checked(fields: dict, source: str) -> Case:
    """The canonical case of `fields` (CaseSpec's, as a case file gives them), every error a NativeError
    naming the field: shared by native spellings and a stack's conv layers (harness.stack.spec)."""
    try:
        return to_case(CaseSpec(**fields), source, 1)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise NativeError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    except FieldError as exc:
        raise NativeError(str(exc)) from None
    except CaseError as exc:
        raise NativeError(f"{exc.field}: {exc.message}" if exc.field else exc.message) from None
