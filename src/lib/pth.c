#include "util/common.h"
#include "util/crc32.h"
#include "util/xio.h"
#include "wanctl/formats.h"
#include <stdarg.h>

/*
 * PyTorch checkpoints (torch.save >= 1.6): a zip archive (stored entries,
 * zip64 when large) named <archive>/data.pkl, <archive>/version or
 * <archive>/.format_version, <archive>/data/<n>, ... We check the zip
 * structure only, bounded by the real file size, and never unpickle.
 *
 * Structure checks: end of central directory record at the very end (with
 * its comment), zip64 locator and record when present, central directory
 * ending exactly where the end records begin (no prepended data), every
 * entry's local header inside the file before the central directory, local
 * and central names equal, entries not overlapping, no duplicate names, no
 * encryption, methods stored (0) or deflate (8; CRC not checked).
 */

struct pth_src {
	int fd;
	const unsigned char *buf;
	uint64_t size;
	const char *name;
};

struct pth_entry {
	char *name;
	uint16_t flags, method;
	uint32_t crc;
	uint64_t csize, usize, lho;
	uint64_t data;      /* start of the data (after the local header) */
};

static int __attribute__((format(printf, 2, 3)))
pth_fail(const struct pth_src *s, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return wan_err(WAN_ECORRUPT, "invalid PyTorch archive '%s': %s", s->name, msg);
}

static int pth_read(const struct pth_src *s, void *dst, size_t len, uint64_t off)
{
	ssize_t r;

	if (off > s->size || len > s->size - off)
		return pth_fail(s, "read of %zu bytes at byte %llu past the end of the file (%llu bytes)",
				len, (unsigned long long)off, (unsigned long long)s->size);
	if (s->buf) {
		memcpy(dst, s->buf + off, len);
		return 0;
	}
	r = xpread(s->fd, dst, len, (off_t)off);
	if (r < 0)
		return wan_err_sys(WAN_EIO, "cannot read '%s' at byte %llu", s->name,
				   (unsigned long long)off);
	if ((size_t)r != len)
		return wan_err(WAN_EIO, "cannot read '%s': short read at byte %llu (file shrank?)",
			       s->name, (unsigned long long)off);
	return 0;
}

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int cmp_entry_name(const void *a, const void *b)
{
	return strcmp(((const struct pth_entry *)a)->name,
		      ((const struct pth_entry *)b)->name);
}

static int cmp_entry_lho(const void *a, const void *b)
{
	const struct pth_entry *x = a, *y = b;

	return (x->lho > y->lho) - (x->lho < y->lho);
}

/* Parse the central directory entries (cd of cd_size bytes). */
static int pth_parse_cd(const struct pth_src *s, const unsigned char *cd,
			uint64_t cd_size, uint64_t cd_off, uint64_t nent,
			struct pth_entry *ents)
{
	uint64_t pos = 0;

	for (uint64_t i = 0; i < nent; i++) {
		struct pth_entry *e = &ents[i];
		const unsigned char *h = cd + pos;
		unsigned nlen, xlen, clen;
		uint64_t at = cd_off + pos;

		if (cd_size - pos < 46 || le32(h) != 0x02014b50)
			return pth_fail(s, "central directory entry %llu at byte %llu is damaged (bad signature or truncated)",
					(unsigned long long)i, (unsigned long long)at);
		nlen = le16(h + 28);
		xlen = le16(h + 30);
		clen = le16(h + 32);
		if (cd_size - pos - 46 < (uint64_t)nlen + xlen + clen)
			return pth_fail(s, "central directory entry %llu at byte %llu runs past the directory",
					(unsigned long long)i, (unsigned long long)at);
		if (nlen == 0 || memchr(h + 46, '\0', nlen))
			return pth_fail(s, "central directory entry %llu at byte %llu has an empty or NUL-holding name",
					(unsigned long long)i, (unsigned long long)at);
		e->name = malloc(nlen + 1u);
		if (!e->name)
			return wan_err(WAN_ENOMEM, "out of memory");
		memcpy(e->name, h + 46, nlen);
		e->name[nlen] = '\0';
		e->flags = le16(h + 8);
		e->method = le16(h + 10);
		e->crc = le32(h + 16);
		e->csize = le32(h + 20);
		e->usize = le32(h + 24);
		e->lho = le32(h + 42);
		if (le16(h + 34) != 0 && le16(h + 34) != 0xFFFF)
			return pth_fail(s, "entry '%s' is on disk %u (multi-part archives are not supported)",
					e->name, le16(h + 34));
		/* zip64 extended information */
		if (e->usize == 0xFFFFFFFFu || e->csize == 0xFFFFFFFFu ||
		    e->lho == 0xFFFFFFFFu) {
			const unsigned char *x = h + 46 + nlen, *xe = x + xlen;
			int found = 0;

			while (xe - x >= 4) {
				unsigned id = le16(x), sz = le16(x + 2);
				const unsigned char *d = x + 4;
				if ((size_t)(xe - d) < sz)
					break;
				if (id == 0x0001) {
					const unsigned char *de = d + sz;
					found = 1;
					if (e->usize == 0xFFFFFFFFu) {
						if (de - d < 8)
							found = -1;
						else
							e->usize = le64(d), d += 8;
					}
					if (found > 0 && e->csize == 0xFFFFFFFFu) {
						if (de - d < 8)
							found = -1;
						else
							e->csize = le64(d), d += 8;
					}
					if (found > 0 && e->lho == 0xFFFFFFFFu) {
						if (de - d < 8)
							found = -1;
						else
							e->lho = le64(d);
					}
					break;
				}
				x = d + sz;
			}
			if (found <= 0)
				return pth_fail(s, "entry '%s' has zip64 markers but no valid zip64 extra field (central directory byte %llu)",
						e->name, (unsigned long long)at);
		}
		if (e->flags & 1)
			return pth_fail(s, "entry '%s' is encrypted", e->name);
		if (e->method != 0 && e->method != 8)
			return pth_fail(s, "entry '%s' uses compression method %u (only stored and deflate are known)",
					e->name, e->method);
		if (e->method == 0 && e->csize != e->usize)
			return pth_fail(s, "stored entry '%s' has compressed size %llu but size %llu",
					e->name, (unsigned long long)e->csize,
					(unsigned long long)e->usize);
		if (e->lho >= cd_off || cd_off - e->lho < 30)
			return pth_fail(s, "entry '%s' has its local header at byte %llu, not before the central directory at byte %llu",
					e->name, (unsigned long long)e->lho,
					(unsigned long long)cd_off);
		pos += 46 + (uint64_t)nlen + xlen + clen;
	}
	if (pos != cd_size)
		return pth_fail(s, "central directory holds %llu bytes after its %llu entries",
				(unsigned long long)(cd_size - pos), (unsigned long long)nent);
	return 0;
}

static int pth_crc(const struct pth_src *s, const struct pth_entry *e,
		   unsigned char *buf, size_t bufsz)
{
	uint64_t off = e->data, left = e->csize;
	uint32_t crc = 0;
	int err;

	while (left) {
		size_t n = left < bufsz ? (size_t)left : bufsz;
		if ((err = pth_read(s, buf, n, off)) < 0)
			return err;
		crc = wan_crc32(crc, buf, n);
		off += n;
		left -= n;
	}
	if (crc != e->crc)
		return pth_fail(s, "entry '%s' (bytes %llu to %llu) fails its CRC-32 check: stored %08x, computed %08x",
				e->name, (unsigned long long)e->data,
				(unsigned long long)(e->data + e->csize), e->crc, crc);
	return 0;
}

static int pth_check(const struct pth_src *s, int check_crc, json_t **summary)
{
	unsigned char head[4] = { 0 }, *tail = NULL, *cd = NULL, *buf = NULL;
	struct pth_entry *ents = NULL;
	uint64_t tail_len, eocd = 0, nent, cd_size, cd_off, cd_end, bytes = 0;
	uint64_t records = 0;
	size_t alen = 0;
	const char *archive = NULL;
	int found = 0, have_pkl = 0, have_ver = 0, err = 0;

	if (summary)
		*summary = NULL;
	if (s->size >= 2 && (err = pth_read(s, head, s->size < 4 ? 2 : 4, 0)) < 0)
		return err;
	if (head[0] == 0x80 && head[1] == 0x02)
		return wan_err(WAN_ECORRUPT,
			       "'%s' is a legacy (pre-1.6, non-zip) PyTorch file (pickle protocol 2); re-save it with torch.save(..., _use_new_zipfile_serialization=True) or convert it to safetensors",
			       s->name);
	if (head[0] == 0x80 && head[1] >= 3 && head[1] <= 5)
		return pth_fail(s, "not a zip archive but a bare pickle (protocol %u), which would run code when loaded",
				head[1]);
	if (s->size < 22)
		return pth_fail(s, "not a zip archive: %llu bytes, too short for an end of central directory record",
				(unsigned long long)s->size);
	tail_len = s->size < 22 + 65535 ? s->size : 22 + 65535;
	tail = malloc(tail_len);
	if (!tail)
		return wan_err(WAN_ENOMEM, "out of memory");
	if ((err = pth_read(s, tail, tail_len, s->size - tail_len)) < 0)
		goto out;
	for (uint64_t i = tail_len - 22 + 1; i-- > 0;) {
		if (le32(tail + i) == 0x06054b50 &&
		    i + 22 + le16(tail + i + 20) == tail_len) {
			eocd = s->size - tail_len + i;
			found = 1;
			break;
		}
	}
	if (!found) {
		err = pth_fail(s, "not a zip archive: no end of central directory record in the last %llu bytes%s",
			       (unsigned long long)tail_len,
			       memcmp(head, "PK\3\4", 4) ? "" : " (truncated?)");
		goto out;
	}
	{
		const unsigned char *r = tail + (eocd - (s->size - tail_len));
		nent = le16(r + 10);
		cd_size = le32(r + 12);
		cd_off = le32(r + 16);
		cd_end = eocd;
		if ((le16(r + 4) != 0 && le16(r + 4) != 0xFFFF) ||
		    (le16(r + 6) != 0 && le16(r + 6) != 0xFFFF) ||
		    le16(r + 8) != le16(r + 10)) {
			err = pth_fail(s, "multi-part zip archives are not supported (end record at byte %llu)",
				       (unsigned long long)eocd);
			goto out;
		}
	}
	if (eocd >= 20) {
		unsigned char loc[20], z[56];
		if ((err = pth_read(s, loc, 20, eocd - 20)) < 0)
			goto out;
		if (le32(loc) == 0x07064b50) {
			uint64_t zoff = le64(loc + 8);
			if (zoff > eocd - 20 || eocd - 20 - zoff < 56) {
				err = pth_fail(s, "zip64 end record offset %llu is outside the file (locator at byte %llu)",
					       (unsigned long long)zoff,
					       (unsigned long long)(eocd - 20));
				goto out;
			}
			if ((err = pth_read(s, z, 56, zoff)) < 0)
				goto out;
			if (le32(z) != 0x06064b50) {
				err = pth_fail(s, "no zip64 end record at byte %llu", (unsigned long long)zoff);
				goto out;
			}
			if (le32(z + 16) != 0 || le32(z + 20) != 0 ||
			    le64(z + 24) != le64(z + 32)) {
				err = pth_fail(s, "multi-part zip archives are not supported (zip64 end record at byte %llu)",
					       (unsigned long long)zoff);
				goto out;
			}
			nent = le64(z + 32);
			cd_size = le64(z + 40);
			cd_off = le64(z + 48);
			cd_end = zoff;
		}
	}
	if (cd_off > cd_end || cd_size != cd_end - cd_off) {
		err = pth_fail(s, "central directory at byte %llu of %llu bytes does not end where the end record starts (byte %llu)",
			       (unsigned long long)cd_off, (unsigned long long)cd_size,
			       (unsigned long long)cd_end);
		goto out;
	}
	if (nent == 0) {
		err = pth_fail(s, "the archive has no entries");
		goto out;
	}
	if (nent > WAN_PTH_ENTRIES_MAX || cd_size > WAN_PTH_CD_MAX || nent > cd_size / 46) {
		err = pth_fail(s, "central directory of %llu bytes cannot hold %llu entries (limits: %d entries, %llu bytes)",
			       (unsigned long long)cd_size, (unsigned long long)nent,
			       WAN_PTH_ENTRIES_MAX, (unsigned long long)WAN_PTH_CD_MAX);
		goto out;
	}
	cd = malloc(cd_size);
	ents = calloc(nent, sizeof(*ents));
	if (!cd || !ents) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = pth_read(s, cd, cd_size, cd_off)) < 0 ||
	    (err = pth_parse_cd(s, cd, cd_size, cd_off, nent, ents)) < 0)
		goto out;

	qsort(ents, nent, sizeof(*ents), cmp_entry_name);
	for (uint64_t i = 1; i < nent; i++) {
		if (!strcmp(ents[i].name, ents[i - 1].name)) {
			err = pth_fail(s, "duplicate entry '%s'", ents[i].name);
			goto out;
		}
	}
	qsort(ents, nent, sizeof(*ents), cmp_entry_lho);
	for (uint64_t i = 0; i < nent; i++) {
		struct pth_entry *e = &ents[i];
		unsigned char lh[30];
		uint64_t limit = i + 1 < nent ? ents[i + 1].lho : cd_off, end;
		size_t nlen = strlen(e->name);
		char *lname;

		if ((err = pth_read(s, lh, 30, e->lho)) < 0)
			goto out;
		if (le32(lh) != 0x04034b50) {
			err = pth_fail(s, "entry '%s': no local header at byte %llu",
				       e->name, (unsigned long long)e->lho);
			goto out;
		}
		if (le16(lh + 26) != nlen ||
		    e->lho + 30 + nlen + le16(lh + 28) > limit) {
			err = pth_fail(s, "entry '%s': local header at byte %llu disagrees with the central directory or overlaps the next entry",
				       e->name, (unsigned long long)e->lho);
			goto out;
		}
		lname = malloc(nlen + 1);
		if (!lname) {
			err = wan_err(WAN_ENOMEM, "out of memory");
			goto out;
		}
		if ((err = pth_read(s, lname, nlen, e->lho + 30)) < 0) {
			free(lname);
			goto out;
		}
		if (memcmp(lname, e->name, nlen)) {
			free(lname);
			err = pth_fail(s, "entry '%s': the local header at byte %llu names another file",
				       e->name, (unsigned long long)e->lho);
			goto out;
		}
		free(lname);
		e->data = e->lho + 30 + nlen + le16(lh + 28);
		if (__builtin_add_overflow(e->data, e->csize, &end) || end > limit) {
			err = pth_fail(s, "entry '%s' (%llu bytes from byte %llu) runs past %s at byte %llu",
				       e->name, (unsigned long long)e->csize,
				       (unsigned long long)e->data,
				       i + 1 < nent ? "the next entry" : "the central directory",
				       (unsigned long long)limit);
			goto out;
		}
	}

	/* PyTorch layout */
	{
		const char *slash = strchr(ents[0].name, '/');
		if (!slash || slash == ents[0].name) {
			err = pth_fail(s, "entry '%s' is not inside an archive folder (not a PyTorch checkpoint)",
				       ents[0].name);
			goto out;
		}
		archive = ents[0].name;
		alen = (size_t)(slash - ents[0].name);
	}
	for (uint64_t i = 0; i < nent; i++) {
		const char *n = ents[i].name, *rest;

		if (strncmp(n, archive, alen) || n[alen] != '/') {
			err = pth_fail(s, "entry '%s' is outside the archive folder '%.*s'",
				       n, (int)alen, archive);
			goto out;
		}
		rest = n + alen + 1;
		if (!strcmp(rest, "data.pkl"))
			have_pkl = 1;
		else if (!strcmp(rest, "version") || !strcmp(rest, ".format_version"))
			have_ver = 1;
		else if (!strncmp(rest, "data/", 5)) {
			const char *d = rest + 5;
			if (!*d || strspn(d, "0123456789") != strlen(d)) {
				err = pth_fail(s, "entry '%s' is not a data record (<archive>/data/<number>)", n);
				goto out;
			}
			records++;
			bytes += ents[i].usize;
		}
	}
	if (!have_pkl || !have_ver) {
		err = pth_fail(s, "no '%.*s/%s' entry (not a PyTorch checkpoint)",
			       (int)alen, archive, have_pkl ? "version" : "data.pkl");
		goto out;
	}
	if (check_crc) {
		buf = malloc(1 << 20);
		if (!buf) {
			err = wan_err(WAN_ENOMEM, "out of memory");
			goto out;
		}
		for (uint64_t i = 0; i < nent; i++)
			if (ents[i].method == 0 &&
			    (err = pth_crc(s, &ents[i], buf, 1 << 20)) < 0)
				goto out;
	}
	if (summary) {
		*summary = json_pack("{s:s%, s:I, s:I, s:I}", "archive", archive, alen,
				     "entries", (json_int_t)nent,
				     "data_records", (json_int_t)records,
				     "bytes", (json_int_t)bytes);
		if (!*summary)
			err = wan_err(WAN_ENOMEM, "out of memory");
	}
out:
	if (ents)
		for (uint64_t i = 0; i < nent; i++)
			free(ents[i].name);
	free(ents);
	free(cd);
	free(tail);
	free(buf);
	return err;
}

int wan_pth_check_fd(int fd, uint64_t file_size, int check_crc,
		     const char *name, json_t **summary)
{
	struct pth_src s = { fd, NULL, file_size, name };

	return pth_check(&s, check_crc, summary);
}

int wan_pth_check_buf(const void *buf, size_t len, int check_crc,
		      const char *name, json_t **summary)
{
	struct pth_src s = { -1, buf, len, name };

	return pth_check(&s, check_crc, summary);
}
