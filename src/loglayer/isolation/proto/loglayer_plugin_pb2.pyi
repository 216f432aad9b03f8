from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Value(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: bytes
    def __init__(self, json: _Optional[bytes] = ...) -> None: ...

class Params(_message.Message):
    __slots__ = ("level", "messages", "data", "metadata", "error", "fields", "prefix", "has_prefix", "transport_id", "groups")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    HAS_PREFIX_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_ID_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    level: int
    messages: bytes
    data: bytes
    metadata: bytes
    error: bytes
    fields: bytes
    prefix: str
    has_prefix: bool
    transport_id: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, level: _Optional[int] = ..., messages: _Optional[bytes] = ..., data: _Optional[bytes] = ..., metadata: _Optional[bytes] = ..., error: _Optional[bytes] = ..., fields: _Optional[bytes] = ..., prefix: _Optional[str] = ..., has_prefix: _Optional[bool] = ..., transport_id: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ...) -> None: ...

class Level(_message.Message):
    __slots__ = ("level",)
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    level: int
    def __init__(self, level: _Optional[int] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("send",)
    SEND_FIELD_NUMBER: _ClassVar[int]
    send: bool
    def __init__(self, send: _Optional[bool] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("id", "hooks", "batch", "batch_stream")
    ID_FIELD_NUMBER: _ClassVar[int]
    HOOKS_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    BATCH_STREAM_FIELD_NUMBER: _ClassVar[int]
    id: str
    hooks: _containers.RepeatedScalarFieldContainer[str]
    batch: bool
    batch_stream: bool
    def __init__(self, id: _Optional[str] = ..., hooks: _Optional[_Iterable[str]] = ..., batch: _Optional[bool] = ..., batch_stream: _Optional[bool] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("entries", "transport_ids", "groups")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_IDS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    entries: bytes
    transport_ids: _containers.RepeatedScalarFieldContainer[str]
    groups: bytes
    def __init__(self, entries: _Optional[bytes] = ..., transport_ids: _Optional[_Iterable[str]] = ..., groups: _Optional[bytes] = ...) -> None: ...

class BatchResult(_message.Message):
    __slots__ = ("outcomes", "error")
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    outcomes: bytes
    error: str
    def __init__(self, outcomes: _Optional[bytes] = ..., error: _Optional[str] = ...) -> None: ...
