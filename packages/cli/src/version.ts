/** The version both programs print with -v. */
export const VERSION = '0.1.0'
/** What the hello announces for each dialect (PROTOCOL.md §2.2). */
export const INTERNAL_VERSION = 6
