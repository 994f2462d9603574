"""The Azora policy pack.

`policy.rules` holds the rules as plain functions over resource properties; they serve the
CrossGuard pack (`policy/__main__.py`), `azora policy check` and the tests alike. Never import
`policy.__main__` elsewhere: building the PolicyPack starts a gRPC server and blocks.
"""
