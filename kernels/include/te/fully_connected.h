/* te-openmv kernels: fully_connected family (declarations are added with its kernels). */
#pragma once
