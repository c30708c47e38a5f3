# te-openmv `tinyengine` user C module for CMake-based MicroPython ports (esp32, rp2...).
# Staged by `te-openmv build-firmware` like micropython.mk (see there for the layout);
# pass USER_C_MODULES=<staging>/micropython.cmake, which includes this file.

add_library(usermod_tinyengine INTERFACE)

file(GLOB TINYENGINE_MODEL_SOURCES ${CMAKE_CURRENT_LIST_DIR}/models/*.c)
file(GLOB TINYENGINE_KERNEL_SOURCES ${CMAKE_CURRENT_LIST_DIR}/kernels/*.c)

target_sources(usermod_tinyengine INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/modtinyengine.c
    ${CMAKE_CURRENT_LIST_DIR}/te_image.c
    ${CMAKE_CURRENT_LIST_DIR}/te_models.c
    ${TINYENGINE_MODEL_SOURCES}
    ${TINYENGINE_KERNEL_SOURCES}
)

target_include_directories(usermod_tinyengine INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}
    ${CMAKE_CURRENT_LIST_DIR}/include
    ${CMAKE_CURRENT_LIST_DIR}/models
)

# Kernels and models are the hot loops: optimise them for speed.
set_source_files_properties(${TINYENGINE_MODEL_SOURCES} ${TINYENGINE_KERNEL_SOURCES}
    PROPERTIES COMPILE_OPTIONS "-O2")

target_link_libraries(usermod INTERFACE usermod_tinyengine)
