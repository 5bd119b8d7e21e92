"""A hand-made DLPack producer (ctypes), for inputs no framework exports: bad shapes, dtypes
the library refuses, or a tensor that claims a CUDA device without one being present."""

import ctypes


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


class RawDLPack:
    """A DLPack producer over `data` (an address); `streams` records the stream of each export."""

    def __init__(self, data, shape, code=1, bits=8, lanes=1, device_type=1):
        self.shape = (ctypes.c_int64 * max(1, len(shape)))(*shape)
        self.m = _DLManagedTensor()
        self.m.dl_tensor.data = data
        self.m.dl_tensor.device = _DLDevice(device_type, 0)
        self.m.dl_tensor.ndim = len(shape)
        self.m.dl_tensor.dtype = _DLDataType(code, bits, lanes)
        self.m.dl_tensor.shape = self.shape
        self.streams = []

    def __dlpack_device__(self):
        return (self.m.dl_tensor.device.device_type, 0)

    def __dlpack__(self, stream=None, **kwargs):
        self.streams.append(stream)
        new = ctypes.pythonapi.PyCapsule_New
        new.restype = ctypes.py_object
        new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        return new(ctypes.addressof(self.m), b"dltensor", None)
