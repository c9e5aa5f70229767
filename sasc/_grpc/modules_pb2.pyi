from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ArrayChunk(_message.Message):
    __slots__ = ("name", "shape", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    def __init__(self, name: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ...) -> None: ...

class RegisterModuleRequest(_message.Message):
    __slots__ = ("kind", "params", "display_name", "arrays")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ARRAYS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    params: _struct_pb2.Struct
    display_name: str
    arrays: _containers.RepeatedCompositeFieldContainer[ArrayChunk]
    def __init__(self, kind: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., display_name: _Optional[str] = ..., arrays: _Optional[_Iterable[_Union[ArrayChunk, _Mapping]]] = ...) -> None: ...

class Module(_message.Message):
    __slots__ = ("id", "kind", "display_name", "units", "fingerprint", "hosted", "array_bytes", "created_at", "params")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    HOSTED_FIELD_NUMBER: _ClassVar[int]
    ARRAY_BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    display_name: str
    units: _containers.RepeatedScalarFieldContainer[str]
    fingerprint: str
    hosted: bool
    array_bytes: int
    created_at: float
    params: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., display_name: _Optional[str] = ..., units: _Optional[_Iterable[str]] = ..., fingerprint: _Optional[str] = ..., hosted: _Optional[bool] = ..., array_bytes: _Optional[int] = ..., created_at: _Optional[float] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ListModulesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModulesResponse(_message.Message):
    __slots__ = ("modules",)
    MODULES_FIELD_NUMBER: _ClassVar[int]
    modules: _containers.RepeatedCompositeFieldContainer[Module]
    def __init__(self, modules: _Optional[_Iterable[_Union[Module, _Mapping]]] = ...) -> None: ...

class GetModuleRequest(_message.Message):
    __slots__ = ("module_id",)
    MODULE_ID_FIELD_NUMBER: _ClassVar[int]
    module_id: str
    def __init__(self, module_id: _Optional[str] = ...) -> None: ...

class DeleteModuleRequest(_message.Message):
    __slots__ = ("module_id",)
    MODULE_ID_FIELD_NUMBER: _ClassVar[int]
    module_id: str
    def __init__(self, module_id: _Optional[str] = ...) -> None: ...

class DeleteModuleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("module_id", "texts", "unit_names", "unit_indices")
    MODULE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    UNIT_NAMES_FIELD_NUMBER: _ClassVar[int]
    UNIT_INDICES_FIELD_NUMBER: _ClassVar[int]
    module_id: str
    texts: _containers.RepeatedScalarFieldContainer[str]
    unit_names: _containers.RepeatedScalarFieldContainer[str]
    unit_indices: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, module_id: _Optional[str] = ..., texts: _Optional[_Iterable[str]] = ..., unit_names: _Optional[_Iterable[str]] = ..., unit_indices: _Optional[_Iterable[int]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("units", "n_texts", "values")
    UNITS_FIELD_NUMBER: _ClassVar[int]
    N_TEXTS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    units: _containers.RepeatedScalarFieldContainer[str]
    n_texts: int
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, units: _Optional[_Iterable[str]] = ..., n_texts: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class ListKindsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListKindsResponse(_message.Message):
    __slots__ = ("kinds",)
    KINDS_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kinds: _Optional[_Iterable[str]] = ...) -> None: ...

class HostMessage(_message.Message):
    __slots__ = ("hello", "values", "error")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    hello: HostHello
    values: HostValues
    error: HostError
    def __init__(self, hello: _Optional[_Union[HostHello, _Mapping]] = ..., values: _Optional[_Union[HostValues, _Mapping]] = ..., error: _Optional[_Union[HostError, _Mapping]] = ...) -> None: ...

class HostRequest(_message.Message):
    __slots__ = ("ready", "batch")
    READY_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    ready: HostReady
    batch: HostBatch
    def __init__(self, ready: _Optional[_Union[HostReady, _Mapping]] = ..., batch: _Optional[_Union[HostBatch, _Mapping]] = ...) -> None: ...

class HostHello(_message.Message):
    __slots__ = ("display_name", "units", "max_batch_size", "fingerprint", "token_responses")
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_RESPONSES_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    units: _containers.RepeatedScalarFieldContainer[str]
    max_batch_size: int
    fingerprint: str
    token_responses: bool
    def __init__(self, display_name: _Optional[str] = ..., units: _Optional[_Iterable[str]] = ..., max_batch_size: _Optional[int] = ..., fingerprint: _Optional[str] = ..., token_responses: _Optional[bool] = ...) -> None: ...

class HostReady(_message.Message):
    __slots__ = ("module", "batch_size", "batch_deadline_s")
    MODULE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    BATCH_DEADLINE_S_FIELD_NUMBER: _ClassVar[int]
    module: Module
    batch_size: int
    batch_deadline_s: float
    def __init__(self, module: _Optional[_Union[Module, _Mapping]] = ..., batch_size: _Optional[int] = ..., batch_deadline_s: _Optional[float] = ...) -> None: ...

class HostBatch(_message.Message):
    __slots__ = ("batch_id", "texts", "per_token")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    PER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    texts: _containers.RepeatedScalarFieldContainer[str]
    per_token: bool
    def __init__(self, batch_id: _Optional[int] = ..., texts: _Optional[_Iterable[str]] = ..., per_token: _Optional[bool] = ...) -> None: ...

class HostValues(_message.Message):
    __slots__ = ("batch_id", "values", "tokens", "token_counts")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_COUNTS_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    values: _containers.RepeatedScalarFieldContainer[float]
    tokens: _containers.RepeatedScalarFieldContainer[str]
    token_counts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, batch_id: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ..., tokens: _Optional[_Iterable[str]] = ..., token_counts: _Optional[_Iterable[int]] = ...) -> None: ...

class HostError(_message.Message):
    __slots__ = ("batch_id", "message")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    message: str
    def __init__(self, batch_id: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...
