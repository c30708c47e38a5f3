"""te-openmv's ahead-of-time compiler: TFLite flatbuffer -> Graph -> passes -> plan -> C."""
