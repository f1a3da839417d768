"""Local servers speaking the Chinese vendors' documented protocols (Alibaba Cloud SMS, Tencent Cloud
SMS, WeChat): they recompute request signatures, refuse bad ones with the vendor's error shape,
throttle as the vendor does, and build the delivery reports the vendor pushes."""
