/* SPDX-License-Identifier: MIT */
/*
 * What the passthrough backend needs of the KVM backend beyond its ops: a
 * commit split in two, so that a composed commit is all-or-nothing across
 * both halves (lib/kvm.c explains the locking).
 */
#ifndef LIBMSIX_KVM_INTERNAL_H
#define LIBMSIX_KVM_INTERNAL_H

#include <stdbool.h>

#include "libmsix.h"

/* Issue every staged ioctl; 0 holds the VM lock until finish or undo. */
int kvm_commit_prepare(struct libmsix_backend *be);
/* The prepared state becomes the committed one. */
void kvm_commit_finish(struct libmsix_backend *be);
/* Put KVM back as it was before prepare and drop what was staged. */
void kvm_commit_undo(struct libmsix_backend *be);
/* @be is a KVM backend created with LIBMSIX_KVM_F_IRQFD. */
bool kvm_is_irqfd_backend(const struct libmsix_backend *be);

#endif /* LIBMSIX_KVM_INTERNAL_H */
