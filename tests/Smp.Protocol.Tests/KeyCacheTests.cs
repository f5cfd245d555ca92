using Smp.Protocol.Crypto;

namespace Smp.Protocol.Tests;

public sealed class KeyCacheTests
{
    private sealed class FakeKey(byte[] der) : IDisposable
    {
        public byte[] Der { get; } = der;
        public bool Disposed { get; private set; }
        public void Dispose() => Disposed = true;
    }

    private sealed class Parser
    {
        public List<FakeKey> Made { get; } = [];

        public FakeKey Parse(byte[] der)
        {
            if (der.Length == 0) throw new FormatException("empty");
            var key = new FakeKey(der);
            Made.Add(key);
            return key;
        }
    }

    [Fact]
    public void A_returned_key_is_reused_instead_of_parsed_again()
    {
        var parser = new Parser();
        var cache = new KeyCache<FakeKey>(parser.Parse, 4);
        FakeKey first;
        using (var lease = cache.Rent([1, 2])) first = lease.Key;
        using (var again = cache.Rent([1, 2])) Assert.Same(first, again.Key);
        Assert.Single(parser.Made);
    }

    [Fact]
    public void A_key_in_use_is_not_shared_with_a_second_user()
    {
        var parser = new Parser();
        var cache = new KeyCache<FakeKey>(parser.Parse, 4);
        using var one = cache.Rent([1]);
        using var two = cache.Rent([1]);
        Assert.NotSame(one.Key, two.Key);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void An_evicted_key_is_disposed_when_idle_and_a_rented_one_only_when_its_lease_ends()
    {
        var parser = new Parser();
        var cache = new KeyCache<FakeKey>(parser.Parse, 2);
        using (cache.Rent([1])) { }
        var held = cache.Rent([2]);
        using (cache.Rent([3])) { }
        // [1] was least recently used and idle: disposed with its eviction.
        Assert.True(parser.Made[0].Disposed);
        using (cache.Rent([4])) { }
        // [2] is evicted now but still rented: disposed only when given back.
        Assert.False(parser.Made[1].Disposed);
        held.Dispose();
        Assert.True(parser.Made[1].Disposed);
        Assert.Equal(2, cache.Count);
    }

    [Fact]
    public void A_key_that_does_not_parse_throws_and_leaves_nothing_cached()
    {
        var cache = new KeyCache<FakeKey>(new Parser().Parse, 2);
        Assert.Throws<FormatException>(() => cache.Rent([]));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void The_private_key_cache_gives_a_working_key()
    {
        using var rsa = SmpRsa.Generate(1024);
        var der = rsa.ExportPkcs8PrivateKey();
        using var pub = RsaKeys.Public.Rent(rsa.ExportSubjectPublicKeyInfo());
        using var key = RsaKeys.Private.Rent(der);
        var signature = SmpRsa.Sign(key.Key, "data"u8);
        Assert.True(pub.Key.Verify("data"u8, signature));
    }
}
