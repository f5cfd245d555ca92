namespace Smp.Server.Persistence;

/// <summary>Reads a line-oriented log file without loading it whole.</summary>
internal static class LineFiles
{
    /// <summary>Longest line accepted: a journal MSG line for a full block, with room to spare.</summary>
    public const int MaxLineLength = 16 * 1024;

    /// <summary>
    /// Calls <paramref name="handler"/> for every line, without its LF. <see cref="LineEnd.Eof"/> marks a
    /// last line with no LF (a write cut short); a line longer than <see cref="MaxLineLength"/> is passed
    /// as an empty span with <see cref="LineEnd.TooLong"/>.
    /// </summary>
    public static void ForEachLine(string path, LineHandler handler)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
        var buffer = new byte[64 * 1024];
        var filled = 0;
        long lineNumber = 0;
        var skipping = false;
        while (true)
        {
            var n = f.Read(buffer, filled, buffer.Length - filled);
            var eof = n == 0;
            filled += n;
            var start = 0;
            while (true)
            {
                var lf = buffer.AsSpan(start, filled - start).IndexOf((byte)'\n');
                if (lf < 0) break;
                lineNumber++;
                if (skipping || lf > MaxLineLength) handler([], lineNumber, LineEnd.TooLong);
                else handler(buffer.AsSpan(start, lf), lineNumber, LineEnd.Lf);
                skipping = false;
                start += lf + 1;
            }
            var left = filled - start;
            if (eof)
            {
                if (skipping || left > MaxLineLength) handler([], lineNumber + 1, LineEnd.TooLong);
                else if (left > 0) handler(buffer.AsSpan(start, left), lineNumber + 1, LineEnd.Eof);
                return;
            }
            if (left > MaxLineLength)
            {
                skipping = true;
                left = 0;
            }
            buffer.AsSpan(start, left).CopyTo(buffer);
            filled = left;
        }
    }

    public delegate void LineHandler(ReadOnlySpan<byte> line, long lineNumber, LineEnd end);
}

/// <summary>How a line passed to <see cref="LineFiles.LineHandler"/> ended.</summary>
internal enum LineEnd
{
    /// <summary>With LF: a record written whole.</summary>
    Lf,

    /// <summary>At the end of the file without LF: the tail of a write cut short, unless it parses.</summary>
    Eof,

    /// <summary>Longer than any record; its bytes are not passed.</summary>
    TooLong,
}

/// <summary>
/// An append-only file of LF-terminated records. Each record goes to the OS in one write, with its LF,
/// before <see cref="Append"/> returns, and only then may the command be answered: so a crash can cut
/// off only a record that was never answered (docs/protocol/smp.md §11). A write that fails part-way is
/// cut back off the file, so the next record cannot be glued onto its remains; if even that fails, the
/// file refuses every later record rather than risk it.
/// </summary>
internal sealed class AppendOnlyFile : IDisposable
{
    private readonly Stream _stream;
    private readonly bool _fsync;
    private readonly Lock _lock = new();
    private long _length;
    private IOException? _broken;

    public AppendOnlyFile(string path, bool fsync)
        // bufferSize 0: no managed buffer, so Write hands the record straight to the OS.
        : this(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 0), path, fsync)
    {
    }

    /// <summary>Over any seekable stream positioned at its end; tests pass one that fails.</summary>
    internal AppendOnlyFile(Stream stream, string path, bool fsync)
    {
        _stream = stream;
        _fsync = fsync;
        _length = stream.Length;
        Path = path;
    }

    public string Path { get; }

    /// <summary>Bytes in the file: what was there when opened plus every record appended.</summary>
    public long Length => Interlocked.Read(ref _length);

    public void Append(ReadOnlySpan<byte> record)
    {
        lock (_lock)
        {
            if (_broken is not null) throw new IOException($"{Path}: an earlier write failed and could not be undone, so no more records are written to it", _broken);
            var end = _length;
            try
            {
                _stream.Write(record);
                if (_fsync)
                {
                    if (_stream is FileStream f) f.Flush(flushToDisk: true);
                    else _stream.Flush();
                }
            }
            catch (IOException)
            {
                Undo(end);
                throw;
            }
            Interlocked.Exchange(ref _length, end + record.Length);
        }
    }

    private void Undo(long end)
    {
        try
        {
            _stream.SetLength(end);
            _stream.Position = end;
        }
        catch (IOException e)
        {
            _broken = e;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            try
            {
                if (_stream is FileStream f) f.Flush(flushToDisk: true);
            }
            catch (IOException)
            {
            }
            _stream.Dispose();
        }
    }

    /// <summary>Writes a whole file next to <paramref name="path"/>, fsyncs it and renames it into place.</summary>
    public static void ReplaceAtomically(string path, Action<Stream> write)
    {
        var tmp = path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024))
        {
            write(f);
            f.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }
}
