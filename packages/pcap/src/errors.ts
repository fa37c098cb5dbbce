import { ProtocolError } from '@tcpcopy/interface'

/**
 * Stable codes of the pcap reader. Tests and callers check these, never the
 * message. Every one of them comes with the byte offset of the record or block
 * that was wrong (`PcapFormatError.offset`).
 */
export const PcapErrorCode = {
  /** The file starts with neither a pcap nor a pcapng magic, or a section's byte-order magic is wrong. */
  badMagic: 'TC_ERR_PCAP_BAD_MAGIC',
  /** pcap major version other than 2, or pcapng section major version other than 1. */
  badVersion: 'TC_ERR_PCAP_BAD_VERSION',
  /** A captured length larger than the snaplen, than 256 KiB, or than the block holding it. */
  capturedLength: 'TC_ERR_PCAP_CAPLEN',
  /** A pcapng block length that is not a multiple of 4, too short for its type, or too long. */
  blockLength: 'TC_ERR_PCAP_BLOCK_LENGTH',
  /** A pcapng block whose trailing length differs from its leading length. */
  trailerMismatch: 'TC_ERR_PCAP_TRAILER',
  /** The input ends inside the file header, a record or a block (or is empty). */
  truncated: 'TC_ERR_PCAP_TRUNCATED',
  /** A packet block names an interface that no Interface Description Block of its section defined. */
  unknownInterface: 'TC_ERR_PCAP_INTERFACE',
  /** A pcapng option that runs past its block, or an if_tsresol/if_tsoffset of the wrong size. */
  badOption: 'TC_ERR_PCAP_OPTION'
} as const

export type PcapErrorCode = typeof PcapErrorCode[keyof typeof PcapErrorCode]

/**
 * A pcap or pcapng file that does not follow its format. `offset` is the byte
 * offset (from the start of the input) of the record or block that was wrong;
 * the message names the field and, where it differs, that field's offset too.
 */
export class PcapFormatError extends ProtocolError {
  constructor (message: string, code: PcapErrorCode, readonly offset: number, options?: ErrorOptions) {
    super(message, code, options)
  }
}
