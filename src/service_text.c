/*
 * service_text.c
 *		The terms of a customer's question and of a knowledge-base article
 *		(seed 003 3.4.2), for matching Chinese text inside the database.
 *
 * Chinese has no spaces between words, and Debian ships no Chinese word
 * segmenter for PostgreSQL (zhparser and pg_jieba are not packaged), while
 * pg_trgm's trigrams need three characters of a word in common: most
 * Chinese words are two characters, so a paraphrase of a short question
 * shares few trigrams with the original.  Overlapping character bigrams are
 * the classic answer (they are how Lucene's CJK analyzer indexes Chinese):
 * every two-character word of a text is one of its bigrams, a segmentation
 * error cannot lose a term, and rare bigrams (快递, 发票, 退款) carry the
 * meaning once weighted by their inverse document frequency.
 *
 * commerce._text_terms(text) returns the terms of a text, repeated as often
 * as they occur:
 *   - a run of CJK ideographs gives its overlapping bigrams, and each of its
 *     characters once more prefixed with "~" (unigrams: they let 退钱 meet
 *     退款 through 退; weighted like bigrams rather than at 0.3 they raise
 *     the right article at rank 1 from 66% to 70% of the dev half of the
 *     labelled questions, docs/service.md);
 *   - a run of ASCII letters and digits gives one lower-case word (sf, vip,
 *     7); full-width letters and digits count as their ASCII forms;
 *   - everything else (spaces, punctuation, emoji, kana, symbols) separates
 *     runs and gives no term.
 * A text yields at most SERVICE_MAX_TERMS terms, 10000: a CJK text of 5000
 * characters, more than any field of an article (the matcher reads a question
 * up to 2000 characters); a longer text is cut there.
 */
#include "commerce.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#define SERVICE_MAX_TERMS 10000

PG_FUNCTION_INFO_V1(commerce_text_terms);

/* Whether a code point is a CJK ideograph (the unified blocks, their extensions and compatibility forms). */
static bool
service_is_cjk(pg_wchar c)
{
	return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
		(c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FA1F);
}

/* The ASCII letter or digit a code point stands for (lower case; full-width forms folded), or 0. */
static char
service_ascii_alnum(pg_wchar c)
{
	if (c >= 0xFF10 && c <= 0xFF5A)
		c -= 0xFEE0;			/* full-width digits and letters */
	if (c >= 'A' && c <= 'Z')
		return (char) (c - 'A' + 'a');
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return (char) c;
	return 0;
}

/* Append one term (a UTF-8 string) to the result being built. */
static void
service_add_term(Datum *terms, int *n, const char *s, int len)
{
	if (*n < SERVICE_MAX_TERMS)
		terms[(*n)++] = PointerGetDatum(cstring_to_text_with_len(s, len));
}

/* The UTF-8 encoding of one code point into buf (at most 4 bytes); returns its length. */
static int
service_utf8(pg_wchar c, char *buf)
{
	unicode_to_utf8(c, (unsigned char *) buf);
	return pg_utf_mblen((unsigned char *) buf);
}

/* commerce._text_terms(text) -> text[]: the bigrams, unigrams and ASCII words of a text. */
Datum
commerce_text_terms(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(in);
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(in);
	const unsigned char *end = p + len;
	Datum	   *terms;
	int			n = 0;
	pg_wchar	prev = 0;		/* the previous CJK character of the current run, or 0 */
	char		word[64];
	int			wlen = 0;
	ArrayType  *result;

	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("commerce matches text only in UTF8 databases"),
				 errdetail("This database's encoding is %s.", GetDatabaseEncodingName()),
				 errhint("Create the database with ENCODING 'UTF8'.")));

	terms = palloc(sizeof(Datum) * SERVICE_MAX_TERMS);
	while (p < end && n < SERVICE_MAX_TERMS)
	{
		int			l = pg_utf_mblen(p);
		pg_wchar	c;
		char		a;

		if (l < 1 || p + l > end)
			break;				/* cannot happen in a verified UTF8 text */
		c = utf8_to_unicode(p);
		p += l;
		a = service_ascii_alnum(c);
		if (a != 0)
		{
			prev = 0;
			if (wlen < (int) sizeof(word))
				word[wlen++] = a;
			continue;
		}
		if (wlen > 0)
		{
			service_add_term(terms, &n, word, wlen);
			wlen = 0;
		}
		if (service_is_cjk(c))
		{
			char		buf[9];
			int			b;

			buf[0] = '~';
			b = service_utf8(c, buf + 1);
			service_add_term(terms, &n, buf, 1 + b);
			if (prev != 0)
			{
				int			b1 = service_utf8(prev, buf);

				b = service_utf8(c, buf + b1);
				service_add_term(terms, &n, buf, b1 + b);
			}
			prev = c;
		}
		else
			prev = 0;
	}
	if (wlen > 0)
		service_add_term(terms, &n, word, wlen);

	result = construct_array(terms, n, TEXTOID, -1, false, TYPALIGN_INT);
	PG_RETURN_ARRAYTYPE_P(result);
}
