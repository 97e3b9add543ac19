/*
 * The timer heap (heap.h): an array-backed binary min-heap with a position
 * index per id. Sifting keeps the index in step with every swap, so set and
 * remove find a device's entry without a search.
 */
#include "heap.h"

#include <errno.h>
#include <stdlib.h>

static int earlier(const struct timer_entry *a, const struct timer_entry *b)
{
    return a->due < b->due || (a->due == b->due && a->id < b->id);
}

static void place(struct timer_heap *h, size_t index, struct timer_entry e)
{
    h->entries[index] = e;
    h->position[e.id] = (uint32_t)index;
}

static void sift_up(struct timer_heap *h, size_t index)
{
    struct timer_entry e = h->entries[index];
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (!earlier(&e, &h->entries[parent]))
            break;
        place(h, index, h->entries[parent]);
        index = parent;
    }
    place(h, index, e);
}

static void sift_down(struct timer_heap *h, size_t index)
{
    struct timer_entry e = h->entries[index];
    for (;;) {
        size_t child = 2 * index + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count && earlier(&h->entries[child + 1], &h->entries[child]))
            child++;
        if (!earlier(&h->entries[child], &e))
            break;
        place(h, index, h->entries[child]);
        index = child;
    }
    place(h, index, e);
}

int timer_heap_init(struct timer_heap *h, size_t capacity)
{
    if (!h || capacity == 0 || capacity >= TIMER_HEAP_NONE)
        return -EINVAL;
    h->count = 0;
    h->capacity = capacity;
    h->entries = calloc(capacity, sizeof(*h->entries));
    h->position = malloc(capacity * sizeof(*h->position));
    if (!h->entries || !h->position) {
        timer_heap_release(h);
        return -ENOMEM;
    }
    for (size_t i = 0; i < capacity; i++)
        h->position[i] = TIMER_HEAP_NONE;
    return 0;
}

void timer_heap_release(struct timer_heap *h)
{
    if (!h)
        return;
    free(h->entries);
    free(h->position);
    h->entries = NULL;
    h->position = NULL;
    h->count = h->capacity = 0;
}

int timer_heap_set(struct timer_heap *h, uint32_t id, uint64_t due)
{
    if (id >= h->capacity)
        return -EINVAL;
    uint32_t at = h->position[id];
    if (at == TIMER_HEAP_NONE) {
        at = (uint32_t)h->count++;
        place(h, at, (struct timer_entry){.due = due, .id = id});
        sift_up(h, at);
        return 0;
    }
    uint64_t before = h->entries[at].due;
    h->entries[at].due = due;
    if (due < before)
        sift_up(h, at);
    else
        sift_down(h, at);
    return 0;
}

void timer_heap_remove(struct timer_heap *h, uint32_t id)
{
    if (id >= h->capacity || h->position[id] == TIMER_HEAP_NONE)
        return;
    size_t at = h->position[id];
    h->position[id] = TIMER_HEAP_NONE;
    h->count--;
    if (at == h->count)
        return;
    struct timer_entry last = h->entries[h->count];
    struct timer_entry removed = h->entries[at];
    place(h, at, last);
    if (earlier(&last, &removed))
        sift_up(h, at);
    else
        sift_down(h, at);
}

int timer_heap_has(const struct timer_heap *h, uint32_t id, uint64_t *ret_due)
{
    if (id >= h->capacity || h->position[id] == TIMER_HEAP_NONE)
        return 0;
    if (ret_due)
        *ret_due = h->entries[h->position[id]].due;
    return 1;
}

int timer_heap_peek(const struct timer_heap *h, struct timer_entry *ret_top)
{
    if (h->count == 0)
        return 0;
    *ret_top = h->entries[0];
    return 1;
}

int timer_heap_pop_due(struct timer_heap *h, uint64_t now, struct timer_entry *ret_top)
{
    if (h->count == 0 || h->entries[0].due > now)
        return 0;
    *ret_top = h->entries[0];
    timer_heap_remove(h, ret_top->id);
    return 1;
}
