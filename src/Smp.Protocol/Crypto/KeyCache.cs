using System.Security.Cryptography;

namespace Smp.Protocol.Crypto;

/// <summary>
/// Parsed keys by their DER bytes, so that a key used for every message is imported once: an import
/// costs more than the operation (PKCS#8 0.6–0.9 ms, and the first operation after it twice as long).
/// An RSA object is not safe for concurrent use, so a key is rented: each entry keeps the idle
/// instances of its key, a rent takes one (or parses a new one) and returning the lease gives it back.
/// The least recently used entry goes when the cache is full; its instances are disposed when idle,
/// a rented one when its lease ends, never while in use.
/// </summary>
public sealed class KeyCache<T> where T : class, IDisposable
{
    /// <summary>Idle instances kept per key: more than the threads that ever use one key at once is waste.</summary>
    private const int IdlePerKey = 4;

    private readonly Func<byte[], T> _parse;
    private readonly int _capacity;
    private readonly Lock _lock = new();
    private readonly Dictionary<byte[], Entry> _entries = new(DerComparer.Instance);
    private readonly LinkedList<Entry> _recent = new();

    public KeyCache(Func<byte[], T> parse, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _parse = parse;
        _capacity = capacity;
    }

    public int Count
    {
        get
        {
            lock (_lock) return _entries.Count;
        }
    }

    private sealed class Entry(byte[] der)
    {
        public byte[] Der { get; } = der;
        public Stack<T> Idle { get; } = new();
        public LinkedListNode<Entry>? Node { get; set; }
        public bool Evicted { get; set; }
    }

    /// <summary>The parsed key for <paramref name="der"/>; the parser's exception (a bad key) escapes and nothing is cached.</summary>
    public Lease Rent(byte[] der)
    {
        ArgumentNullException.ThrowIfNull(der);
        Entry? entry;
        lock (_lock)
        {
            if (_entries.TryGetValue(der, out entry))
            {
                _recent.Remove(entry.Node!);
                _recent.AddFirst(entry.Node!);
                if (entry.Idle.TryPop(out var idle)) return new Lease(this, entry, idle);
            }
        }
        // Parsed outside the lock: it is the slow part, and a parse that throws leaves no entry behind.
        var key = _parse(der);
        lock (_lock)
        {
            if (entry is null || entry.Evicted)
            {
                if (!_entries.TryGetValue(der, out entry))
                {
                    entry = new Entry(der.ToArray());
                    entry.Node = _recent.AddFirst(entry);
                    _entries.Add(entry.Der, entry);
                    if (_entries.Count > _capacity) Evict(_recent.Last!.Value);
                }
            }
        }
        return new Lease(this, entry, key);
    }

    private void Evict(Entry entry)
    {
        entry.Evicted = true;
        _entries.Remove(entry.Der);
        _recent.Remove(entry.Node!);
        while (entry.Idle.TryPop(out var idle)) idle.Dispose();
    }

    private void Return(Entry entry, T key)
    {
        lock (_lock)
        {
            if (!entry.Evicted && entry.Idle.Count < IdlePerKey)
            {
                entry.Idle.Push(key);
                return;
            }
        }
        key.Dispose();
    }

    /// <summary>One rented key; dispose it (once) to give the key back.</summary>
    public sealed class Lease : IDisposable
    {
        private readonly KeyCache<T> _cache;
        private readonly Entry _entry;
        private T? _key;

        internal Lease(KeyCache<T> cache, object entry, T key)
        {
            _cache = cache;
            _entry = (Entry)entry;
            _key = key;
        }

        public T Key => _key ?? throw new ObjectDisposedException(nameof(Lease));

        public void Dispose()
        {
            var key = Interlocked.Exchange(ref _key, null);
            if (key is not null) _cache.Return(_entry, key);
        }
    }

    private sealed class DerComparer : IEqualityComparer<byte[]>
    {
        public static readonly DerComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj)
        {
            var h = new HashCode();
            h.AddBytes(obj);
            return h.ToHashCode();
        }
    }
}

/// <summary>The process-wide caches of the keys an agent uses per message (recipient, sender, signing, end-to-end).</summary>
public static class RsaKeys
{
    /// <summary>Keys kept of each kind: a few per connection for a thousand connections or so.</summary>
    public const int CacheCapacity = 4096;

    /// <summary>Private keys from PKCS#8 (always our own, made by the BCL).</summary>
    public static KeyCache<RSA> Private { get; } = new(ImportPkcs8, CacheCapacity);

    /// <summary>Public keys from DER SubjectPublicKeyInfo; a key that does not parse throws <see cref="FormatException"/>.</summary>
    public static KeyCache<RsaPublicKey> Public { get; } = new(der => RsaPublicKey.Parse(der), CacheCapacity);

    private static RSA ImportPkcs8(byte[] pkcs8)
    {
        var rsa = RSA.Create();
        try
        {
            rsa.ImportPkcs8PrivateKey(pkcs8, out _);
            return rsa;
        }
        catch
        {
            rsa.Dispose();
            throw;
        }
    }
}
