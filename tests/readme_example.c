/* SPDX-License-Identifier: MIT */
/*
 * README.md's "A device model in 15 lines", verbatim: readme.cmake cuts the
 * block out of the README at configure time, and this file is built twice,
 * as C11 and as C++20, so the example a user copies compiles in both.
 *
 * Then it is brought up as Linux brings up 8 vectors (Enable with Function
 * Mask, mask and program every entry, clear Function Mask, unmask each),
 * the device model taking a queue's vector when the driver sets the queue
 * up, and the user-visible behaviour is checked: the example's backend has no
 * alloc op, so nothing may ever be "re-enabled", and the VMM's injector
 * runs only for the notifies the device raised.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include <linux/pci_regs.h>

#include "libmsix.h"

#define NV 8u

static unsigned injected;
static uint64_t last_address;
static uint32_t last_data;

/* The README's "your injector". */
static int my_vmm_inject_msi(uint64_t address, uint32_t data)
{
	injected++;
	last_address = address;
	last_data = data;
	return 0;
}

int my_msix_init(struct libmsix_dev **msix);

#include "readme_example.inc"

static uint64_t addr_of(uint32_t v)
{
	return 0xfee00000u | v << 12;
}

static void cfg_w(struct libmsix_dev *d, uint16_t msgctl)
{
	ck_assert_int_eq(libmsix_config_write(d, 0x50 + PCI_MSIX_FLAGS, 2,
					      msgctl),
			 0);
}

static void tbl_w(struct libmsix_dev *d, uint32_t v, uint32_t dw,
		  uint32_t val)
{
	ck_assert_int_eq(libmsix_mmio_write(d, 0, 16u * v + 4u * dw, 4, val),
			 0);
}

START_TEST(test_readme_example_brings_up_8_vectors)
{
	struct libmsix_stats c;
	struct libmsix_dev *d = NULL;

	injected = 0;
	ck_assert_int_eq(my_msix_init(&d), 0);

	cfg_w(d, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	for (uint32_t v = 0; v < NV; v++) {
		tbl_w(d, v, 3, PCI_MSIX_ENTRY_CTRL_MASKBIT);
		tbl_w(d, v, 0, (uint32_t)addr_of(v));
		tbl_w(d, v, 1, 0);
		tbl_w(d, v, 2, 0x4000u + v);
	}
	cfg_w(d, PCI_MSIX_FLAGS_ENABLE);
	for (uint32_t v = 0; v < NV; v++)
		tbl_w(d, v, 3, 0);
	/* The driver sets its queues up after enabling MSI-X (virtio does):
	 * queue v signals vector v from now on. */
	for (uint32_t v = 1; v < NV; v++)
		ck_assert_int_eq(libmsix_vector_use(d, v), 0);

	/* Nothing was raised, so nothing may have been injected. */
	ck_assert_uint_eq(injected, 0);
	ck_assert_int_eq(libmsix_get_stats(d, &c), 0);
	ck_assert_uint_eq(c.disruptive_reenables, 0);
	ck_assert_uint_eq(c.spurious_replays, 0);

	/* One notify per vector: one injection each, with its message. */
	for (uint32_t v = 0; v < NV; v++) {
		ck_assert_int_eq(libmsix_notify(d, v), LIBMSIX_DELIVERED);
		ck_assert_uint_eq(injected, v + 1);
		ck_assert_uint_eq(last_address, addr_of(v));
		ck_assert_uint_eq(last_data, 0x4000u + v);
	}
	/* Masked, it latches; the unmask delivers it once (R34, R35). */
	tbl_w(d, 3, 3, PCI_MSIX_ENTRY_CTRL_MASKBIT);
	ck_assert_int_eq(libmsix_notify(d, 3), LIBMSIX_LATCHED);
	ck_assert_uint_eq(injected, NV);
	tbl_w(d, 3, 3, 0);
	ck_assert_uint_eq(injected, NV + 1);
	ck_assert_uint_eq(last_data, 0x4003u);

	ck_assert_int_eq(libmsix_get_stats(d, &c), 0);
	ck_assert_uint_eq(c.disruptive_reenables, 0);
	ck_assert_uint_eq(c.spurious_replays, 0);
	ck_assert_uint_eq(c.delivered, NV);
	ck_assert_uint_eq(c.replayed, 1);
	libmsix_dev_destroy(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("readme_example");
	TCase *tc = tcase_create("readme");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_readme_example_brings_up_8_vectors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
