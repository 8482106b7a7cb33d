/**
 * Kernel status codes, defined once here and mirrored for the host in `kernels/status.ts`
 * (a test compares the two). `0` is success, a positive code is a condition in the data that the host
 * reports as data, a negative code is a kernel failure.
 */

/** The kernel did its work. */
export const STATUS_OK: i32 = 0;
/** The input ended inside a quoted field; the last record is still reported so the parser can reject it. */
export const STATUS_UNTERMINATED_QUOTE: i32 = 1;
/** Linear memory could not grow to hold the input or the output. */
export const STATUS_OUT_OF_MEMORY: i32 = -1;
/** An argument is out of range, e.g. a null state pointer or a delimiter equal to the quote. */
export const STATUS_BAD_ARGUMENT: i32 = -2;
/** A state block holds values no kernel writes, or is used after it was finished. */
export const STATUS_BAD_STATE: i32 = -3;
