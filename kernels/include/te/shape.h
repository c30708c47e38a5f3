/* te-openmv kernels: shape family (declarations are added with its kernels). */
#pragma once
