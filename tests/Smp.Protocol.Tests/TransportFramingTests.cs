using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using Smp.Protocol.Crypto;
using Smp.Protocol.Transport;

namespace Smp.Protocol.Tests;

/// <summary>
/// Blocks arrive however TCP cuts them (smp-wire.md §2): a block split over reads, or several in one read,
/// is framed and decrypted the same, whether it lies in one buffer segment or straddles two.
/// </summary>
public class TransportFramingTests
{
    private static readonly Lazy<(RSA Key, byte[] Der)> ServerKey = new(() =>
    {
        var key = RSA.Create(2048);
        return (key, key.ExportSubjectPublicKeyInfo());
    });

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    [InlineData(4096)]
    [InlineData(4097)]
    [InlineData(3 * 4096 + 100)]
    public async Task Blocks_cut_into_any_reads_come_out_whole_and_in_order(int chunk)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var toServer = new Pipe();
        var toClient = new Pipe();
        var serverStream = new DuplexStream(toServer.Reader.AsStream(), toClient.Writer.AsStream(), chunk);
        var clientStream = new DuplexStream(toClient.Reader.AsStream(), toServer.Writer.AsStream());

        var accepting = SmpTransport.AcceptAsync(serverStream, ServerKey.Value.Key, ServerKey.Value.Der, Handshake.DefaultBlockSize, cts.Token);
        await using var client = await SmpTransport.ConnectAsync(clientStream, SmpRsa.KeyHash(ServerKey.Value.Der), cts.Token);
        await using var server = await accepting;

        var sent = Enumerable.Range(0, 12).Select(i => Encoding.ASCII.GetBytes($"transmission {i} " + new string('x', i * 300))).ToList();
        foreach (var t in sent) await client.WriteAsync(t, cts.Token);

        var plaintext = new byte[server.BlockSize];
        foreach (var t in sent)
        {
            Assert.True(await server.ReadAsync(plaintext, cts.Token));
            Assert.Equal(t, BlockCipher.Unpad(plaintext.AsSpan(0, server.BlockSize - BlockCipher.TagSize)).ToArray());
        }
    }

    /// <summary>Reads from one stream, writes to another; a read returns at most <c>chunk</c> bytes, as a fragmented link would.</summary>
    private sealed class DuplexStream(Stream read, Stream write, int chunk = int.MaxValue) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => write.Flush();
        public override Task FlushAsync(CancellationToken ct) => write.FlushAsync(ct);
        public override int Read(byte[] buffer, int offset, int count) => read.Read(buffer, offset, Math.Min(count, chunk));
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => read.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], ct);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => write.Write(buffer, offset, count);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) => write.WriteAsync(buffer, ct);
    }
}
