/* te-openmv kernels: elementwise family (declarations are added with its kernels). */
#pragma once
