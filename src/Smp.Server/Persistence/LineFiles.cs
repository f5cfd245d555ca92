namespace Smp.Server.Persistence;

/// <summary>Reads a line-oriented log file without loading it whole.</summary>
internal static class LineFiles
{
    /// <summary>Longest line accepted: a journal MSG line for a full block, with room to spare.</summary>
    public const int MaxLineLength = 16 * 1024;

    public delegate void LineHandler(ReadOnlySpan<byte> line, long lineNumber, bool terminated);

    /// <summary>
    /// Calls <paramref name="handler"/> for every line. <c>terminated</c> is false only for a last line
    /// that has no LF (a torn write). Lines longer than <see cref="MaxLineLength"/> are passed as empty
    /// spans, which every parser refuses.
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
                handler(skipping ? [] : buffer.AsSpan(start, lf), lineNumber, true);
                skipping = false;
                start += lf + 1;
            }
            var left = filled - start;
            if (eof)
            {
                if (left > 0 || skipping) handler(skipping ? [] : buffer.AsSpan(start, left), lineNumber + 1, false);
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
}

/// <summary>An append-only file: every record is written with one call and flushed to the OS (optionally fsynced).</summary>
internal sealed class AppendOnlyFile : IDisposable
{
    private readonly FileStream _stream;
    private readonly bool _fsync;
    private readonly Lock _lock = new();

    public AppendOnlyFile(string path, bool fsync)
    {
        // bufferSize 0: no managed buffer, so Write hands the record straight to the OS.
        _stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 0);
        _fsync = fsync;
        Path = path;
    }

    public string Path { get; }

    public void Append(ReadOnlySpan<byte> record)
    {
        lock (_lock)
        {
            _stream.Write(record);
            if (_fsync) _stream.Flush(flushToDisk: true);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            try
            {
                _stream.Flush(flushToDisk: true);
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
