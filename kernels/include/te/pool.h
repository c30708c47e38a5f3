/* te-openmv kernels: pool family (declarations are added with its kernels). */
#pragma once
