# Guest tests of the VFIO backend and the example programs: each boots the
# QEMU test guest (guest/run-in-guest.sh) with the ivshmem-doorbell bound to
# vfio-pci and runs static programs inside it, once per Debian kernel:
# 6.1 (VFIO_IRQ_INFO_NORESIZE) and 6.12 (dynamic MSI-X).
#
#   guest_vfio_v8_<k>     8 vectors: msix-vfio-demo with every policy,
#                         msix-probe, the kernel facts (vfio_kernel) and the
#                         failure paths (vfio_faults)
#   guest_vfio_v64_<k>    64 vectors: msix-vfio-demo with every policy
#   guest_vfio_v2048_<k>  2048 vectors (the largest table): msix-vfio-demo
#                         with 128 used vectors (one guest vCPU holds about
#                         190 host vectors), and host vector exhaustion
#                         part-way through a SET_IRQS (vfio_exhaust)
#
# tests/guest/vfio_*.c are linked with examples/common/*.c and libmsix.a.
# The harness exits 77 when no guest can boot here: CTest reports a skip.
if(LIBMSIX_SANITIZE)
  return() # the sanitizer runtimes do not link statically
endif()
if(NOT LIBMSIX_GUEST_TESTS)
  return() # not even the programs: see LIBMSIX_GUEST_TESTS
endif()
if(NOT LIBMSIX_EXAMPLES)
  return() # the demo and probe are part of these runs
endif()
find_program(LIBMSIX_BASH bash REQUIRED)

set(LIBMSIX_GUEST_VFIO_DIR ${CMAKE_CURRENT_SOURCE_DIR}/guest)
file(GLOB LIBMSIX_GUEST_VFIO_SOURCES CONFIGURE_DEPENDS ${LIBMSIX_GUEST_VFIO_DIR}/vfio_*.c)
file(GLOB LIBMSIX_GUEST_VFIO_COMMON CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/examples/common/*.c)
foreach(src ${LIBMSIX_GUEST_VFIO_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(guest_${name} ${src} ${LIBMSIX_GUEST_VFIO_COMMON})
  target_include_directories(guest_${name} PRIVATE ${PROJECT_SOURCE_DIR}/examples/common)
  target_compile_definitions(guest_${name} PRIVATE _GNU_SOURCE)
  target_link_libraries(guest_${name} PRIVATE libmsix::msix_static)
  target_link_options(guest_${name} PRIVATE -static)
  set_target_properties(guest_${name} PROPERTIES OUTPUT_NAME ${name})
endforeach()

set(LIBMSIX_RUN_IN_GUEST ${LIBMSIX_BASH} ${PROJECT_SOURCE_DIR}/guest/run-in-guest.sh)
set(LIBMSIX_DEMO $<TARGET_FILE:msix-vfio-demo-static>)
set(LIBMSIX_PROBE $<TARGET_FILE:msix-probe-static>)
set(SEP "$<SEMICOLON>$<SEMICOLON>")
foreach(kernel 6.1 6.12)
  add_test(NAME guest_vfio_v8_${kernel}
    COMMAND ${LIBMSIX_RUN_IN_GUEST} --kernel ${kernel} --vectors 8 --timeout 600 --
            ${LIBMSIX_DEMO} --policy all ${SEP}
            ${LIBMSIX_PROBE} ${SEP}
            $<TARGET_FILE:guest_vfio_kernel> ${SEP}
            $<TARGET_FILE:guest_vfio_faults>)
  add_test(NAME guest_vfio_v64_${kernel}
    COMMAND ${LIBMSIX_RUN_IN_GUEST} --kernel ${kernel} --vectors 64 --timeout 600 --
            ${LIBMSIX_DEMO} --policy all)
  add_test(NAME guest_vfio_v2048_${kernel}
    COMMAND ${LIBMSIX_RUN_IN_GUEST} --kernel ${kernel} --vectors 2048 --timeout 900 --
            ${LIBMSIX_DEMO} --policy all --used 128 ${SEP}
            $<TARGET_FILE:guest_vfio_exhaust>)
  set_tests_properties(guest_vfio_v8_${kernel} guest_vfio_v64_${kernel}
    PROPERTIES SKIP_RETURN_CODE 77 LABELS guest TIMEOUT 900)
  set_tests_properties(guest_vfio_v2048_${kernel}
    PROPERTIES SKIP_RETURN_CODE 77 LABELS guest TIMEOUT 1200)
endforeach()
