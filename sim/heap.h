/*
 * The simulator's timer heap: one pending wake-up per device (its next
 * check-in, the end of a reboot, or the deadline of its open connection), in
 * a binary min-heap keyed by due time, with each device's position kept so a
 * timer can be moved or removed in O(log n). The capacity (the fleet's size)
 * is fixed at init: the heap never grows while the simulation runs. It knows
 * nothing of devices or time units; ids are 0 .. capacity-1.
 */
#ifndef SIM_HEAP_H
#define SIM_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define TIMER_HEAP_NONE UINT32_MAX

struct timer_entry {
    uint64_t due; /* when it fires; earlier first, ties by lower id */
    uint32_t id;
};

struct timer_heap {
    struct timer_entry *entries; /* count of them, heap-ordered */
    uint32_t *position;          /* per id: its index in entries, or TIMER_HEAP_NONE */
    size_t count;
    size_t capacity;
};

/* Allocates room for ids 0 .. CAPACITY-1 (CAPACITY > 0). Returns 0 or -ENOMEM / -EINVAL. */
int timer_heap_init(struct timer_heap *h, size_t capacity);

/* Frees what init allocated; H may be NULL or released already. */
void timer_heap_release(struct timer_heap *h);

/* Sets ID's timer to DUE, adding it or moving it. Returns 0, or -EINVAL for an id out of range. */
int timer_heap_set(struct timer_heap *h, uint32_t id, uint64_t due);

/* Removes ID's timer; nothing happens when it has none. */
void timer_heap_remove(struct timer_heap *h, uint32_t id);

/* Whether ID has a timer; when it does and RET_DUE is not NULL, *RET_DUE is its due time. */
int timer_heap_has(const struct timer_heap *h, uint32_t id, uint64_t *ret_due);

/* The earliest timer, without removing it: 1 and *RET_TOP, or 0 when the heap is empty. */
int timer_heap_peek(const struct timer_heap *h, struct timer_entry *ret_top);

/* Removes and returns the earliest timer due at or before NOW: 1 and *RET_TOP, else 0. */
int timer_heap_pop_due(struct timer_heap *h, uint64_t now, struct timer_entry *ret_top);

#endif
