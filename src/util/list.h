/* SPDX-License-Identifier: MIT */
/* list.h -- intrusive doubly linked lists: any struct with `prev` and
 * `next` pointers of its own type, and a head pointer somewhere. Used for
 * the in-flight request lists, whose members leave from the middle. */
#ifndef HR_UTIL_LIST_H
#define HR_UTIL_LIST_H

/* Put n at the front of the list headed by head. */
#define HR_DLIST_PUSH(head, n)                                                 \
    do {                                                                       \
        (n)->prev = NULL;                                                      \
        (n)->next = (head);                                                    \
        if (head) {                                                            \
            (head)->prev = (n);                                                \
        }                                                                      \
        (head) = (n);                                                          \
    } while (0)

/* Take n out of the list headed by head. */
#define HR_DLIST_REMOVE(head, n)                                               \
    do {                                                                       \
        if ((n)->prev) {                                                       \
            (n)->prev->next = (n)->next;                                       \
        } else if ((head) == (n)) {                                            \
            (head) = (n)->next;                                                \
        }                                                                      \
        if ((n)->next) {                                                       \
            (n)->next->prev = (n)->prev;                                       \
        }                                                                      \
        (n)->prev = (n)->next = NULL;                                          \
    } while (0)

#endif
