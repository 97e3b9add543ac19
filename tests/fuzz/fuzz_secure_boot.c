/*
 * libFuzzer target for src/signing/secure_boot.c: secure_boot_verify reads an
 * uploaded image's Secure Boot v2 sector (docs/SIGNING.md). The input is the
 * file, copied to an allocation of exactly its size so any read past it is
 * caught. Checks what secure_boot.h promises: on success the file is whole
 * sectors with 1 to 3 blocks named by scheme and key digest, on failure
 * -EBADMSG or -EIO with a reason.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signing/secure_boot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *file = malloc(size ? size : 1);
    if (!file)
        abort();
    if (size)
        memcpy(file, data, size);
    struct secure_boot_verdict verdict;
    struct reason why = {""};
    int r = secure_boot_verify(file, size, &verdict, &why);
    if (r == 0) {
        if (size % SECURE_BOOT_SECTOR != 0 || verdict.signed_len != size - SECURE_BOOT_SECTOR ||
            verdict.block_count < 1 || verdict.block_count > SECURE_BOOT_MAX_BLOCKS)
            abort();
        for (unsigned i = 0; i < verdict.block_count; i++)
            if (strlen(verdict.blocks[i].key_digest) != 64 || !verdict.blocks[i].scheme[0])
                abort();
    } else if ((r != -EBADMSG && r != -EIO) || why.text[0] == 0) {
        abort();
    }
    free(file);
    return 0;
}
