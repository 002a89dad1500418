# The KVM VMM example (examples/msix-vmm) booting an unmodified Debian kernel
# with virtio-pci devices whose MSI-X is libmsix: the inner guest runs the
# scenario of examples/msix-vmm/guest-init.sh (probe, verified I/O on every
# request queue, growing PCI-MSI counts, affinity changes and CPU hotplug
# under I/O, unbind/bind, reset). One QEMU TCG guest per kernel carries the
# VMM, the same kernel as the inner guest and its virtio modules
# (guest/run-in-guest.sh --inner-kernel), and runs several VMM boots on the
# nested KVM, each with its own vCPUs, queues and delivery mode.
# Labels: guest (scripts/test-all.sh runs these) and linux.
if(LIBMSIX_SANITIZE)
  return() # msix-vmm is static; the sanitizer runtimes do not link statically
endif()
if(NOT LIBMSIX_GUEST_TESTS OR NOT LIBMSIX_EXAMPLES)
  return() # see LIBMSIX_GUEST_TESTS; msix-vmm is one of the examples
endif()
find_program(LIBMSIX_BASH bash REQUIRED)

set(vmm_dir ${PROJECT_SOURCE_DIR}/examples/msix-vmm)
# One VMM boot per entry (words separated by spaces).
# Snapshots (--snapshot-every) replace every libmsix device and backend
# under I/O; deferred routing batches new routes until the VMM's flush; the route budget of 3 is below the 5 vectors Linux asks for
# with 4 queues, so it must fall back to 2 shared vectors.
set(vmm_runs
  "--cpus 1 --queues 1 --delivery emulated --snapshot-every 700"
  "--cpus 2 --queues 2 --delivery irqfd --routing deferred --snapshot-every 500"
  "--cpus 4 --queues 4 --delivery emulated"
  "--cpus 4 --queues 4 --delivery irqfd --route-budget 3 --policy preallocate"
)
set(vmm_args "")
foreach(run IN LISTS vmm_runs)
  if(vmm_args)
    list(APPEND vmm_args "$<SEMICOLON>$<SEMICOLON>")
  endif()
  separate_arguments(words UNIX_COMMAND "${run}")
  list(APPEND vmm_args ${vmm_dir}/nested.sh --timeout 300 ${words})
endforeach()

foreach(kernel 6.1 6.12)
  add_test(NAME guest_vmm_${kernel}
    COMMAND ${LIBMSIX_BASH} ${PROJECT_SOURCE_DIR}/guest/run-in-guest.sh
            --kernel ${kernel} --kvm --inner-kernel --timeout 1500
            --file $<TARGET_FILE:msix-vmm> --file ${vmm_dir}/guest-init.sh
            -- ${vmm_args})
  set_tests_properties(guest_vmm_${kernel} PROPERTIES
    SKIP_RETURN_CODE 77 LABELS "guest;linux" TIMEOUT 1800
    ENVIRONMENT "LIBMSIX_GUEST_VERBOSE=0")
endforeach()
