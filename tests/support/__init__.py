"""Helpers the test modules share: model generators, the bit-exactness check, the shared data's
location, M7 case programs, link-fault injection and the protocol firmware fixture."""
