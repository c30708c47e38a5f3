# Run on te-openmv firmware by tests/test_module.py (MicroPython).
# Prints, per model compiled into the firmware, one Python literal:
# [name, len, ram, macs, input_shape, input_dtype, input_scale, input_zero_point,
#  output_shape, output_dtype, output_scale, output_zero_point, listed by models()]
import tinyengine

names = tinyengine.models()
for n in names:
    m = tinyengine.Model(n)
    print(repr([m.name, m.len, m.ram, m.macs, m.input_shape, m.input_dtype, m.input_scale, m.input_zero_point,
                m.output_shape, m.output_dtype, m.output_scale, m.output_zero_point, m.name in names]))
