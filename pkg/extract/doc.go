// Package extract turns uploaded documents into plain text ready for
// retrieval: it sniffs the format from the bytes (Sniff), extracts the text
// (Text), normalizes it (Normalize) and cuts it into overlapping chunks
// (Chunk).
//
// Supported formats are plain text, Markdown, HTML, PDF (through poppler's
// pdftotext, an external program) and DOCX (read with archive/zip and
// encoding/xml). Failures that no retry can fix — an unsupported type, a
// corrupt file, a file over the size limit — are reported with typed errors
// for which IsPermanent is true.
//
// The package holds no global state: everything it needs is passed in, and
// Extractor carries the only setting (where pdftotext lives).
package extract
