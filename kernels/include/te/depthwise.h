/* te-openmv kernels: depthwise family (declarations are added with its kernels). */
#pragma once
