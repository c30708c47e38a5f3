/* te-openmv kernels: activation family (declarations are added with its kernels). */
#pragma once
