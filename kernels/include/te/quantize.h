/* te-openmv kernels: quantize family (declarations are added with its kernels). */
#pragma once
