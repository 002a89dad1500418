# Guest tests of the KVM backend and the passthrough composition: every
# tests/guest/kvm_*.c is a static program (linked with tests/guest/kvmvm.c,
# the tiny nested VM, and libmsix.a) run inside the QEMU guest with a nested
# /dev/kvm (guest/run-in-guest.sh --kvm), once on each Debian kernel.
# The harness exits 77 when no guest can boot here: CTest reports a skip.
if(LIBMSIX_SANITIZE)
  return() # the sanitizer runtimes do not link statically
endif()
if(NOT LIBMSIX_GUEST_TESTS)
  return() # not even the programs: see LIBMSIX_GUEST_TESTS
endif()
find_program(LIBMSIX_BASH bash REQUIRED)

set(LIBMSIX_GUEST_DIR ${CMAKE_CURRENT_SOURCE_DIR}/guest)
file(GLOB LIBMSIX_GUEST_KVM_SOURCES CONFIGURE_DEPENDS ${LIBMSIX_GUEST_DIR}/kvm_*.c)
set(LIBMSIX_GUEST_KVM_PROGS "")
set(LIBMSIX_GUEST_PT_PROGS "")
foreach(src ${LIBMSIX_GUEST_KVM_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(guest_${name} ${src} ${LIBMSIX_GUEST_DIR}/kvmvm.c)
  target_include_directories(guest_${name} PRIVATE ${LIBMSIX_GUEST_DIR})
  target_compile_definitions(guest_${name} PRIVATE _GNU_SOURCE)
  target_link_libraries(guest_${name} PRIVATE libmsix::msix_static)
  target_link_options(guest_${name} PRIVATE -static)
  set_target_properties(guest_${name} PROPERTIES OUTPUT_NAME ${name})
  # kvm_pt_* need the VFIO device with more vectors: their own boots.
  if(name MATCHES "^kvm_pt_")
    list(APPEND LIBMSIX_GUEST_PT_PROGS ${name})
  else()
    if(LIBMSIX_GUEST_KVM_PROGS)
      list(APPEND LIBMSIX_GUEST_KVM_PROGS "$<SEMICOLON>$<SEMICOLON>")
    endif()
    list(APPEND LIBMSIX_GUEST_KVM_PROGS $<TARGET_FILE:guest_${name}>)
  endif()
endforeach()

foreach(kernel 6.1 6.12)
  if(LIBMSIX_GUEST_KVM_PROGS)
    add_test(NAME guest_kvm_${kernel}
      COMMAND ${LIBMSIX_BASH} ${PROJECT_SOURCE_DIR}/guest/run-in-guest.sh
              --kernel ${kernel} --kvm --timeout 600 -- ${LIBMSIX_GUEST_KVM_PROGS})
    set_tests_properties(guest_kvm_${kernel} PROPERTIES
      SKIP_RETURN_CODE 77 LABELS guest TIMEOUT 900)
  endif()
  # Passthrough: the ivshmem doorbell with 8 vectors, 64, and 2048 (the
  # largest table ivshmem and PCIe allow), every vector request_irq()d.
  # 2048 host IRQs need more IDT vectors than one L1 vCPU has (about 200):
  # that guest gets 12 vCPUs.
  foreach(prog ${LIBMSIX_GUEST_PT_PROGS})
    foreach(n 8 64 2048)
      set(env "")
      if(n GREATER 200)
        set(env "LIBMSIX_GUEST_SMP=12")
      endif()
      add_test(NAME guest_${prog}_${kernel}_v${n}
        COMMAND ${LIBMSIX_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/guest/boot-retry.sh
                ${LIBMSIX_BASH} ${PROJECT_SOURCE_DIR}/guest/run-in-guest.sh
                --kernel ${kernel} --kvm --vectors ${n} --timeout 1800
                -- $<TARGET_FILE:guest_${prog}> ${n})
      set_tests_properties(guest_${prog}_${kernel}_v${n} PROPERTIES
        SKIP_RETURN_CODE 77 LABELS guest TIMEOUT 2000 ENVIRONMENT "${env}")
    endforeach()
  endforeach()
endforeach()
