using System.Buffers.Binary;
using System.Text;

namespace Smp.Protocol.Transport;

/// <summary>
/// The pure encoders and decoders of the SMP transport handshake (smp-wire.md §2).
/// <code>
/// server_header = blockSize:u32 0x0000:u16 keyLen:u16 serverKey[keyLen]   ; DER SPKI
/// client_keys   = RSA-OAEP(serverKey, blockSize:u32 0x0000:u16 sndKey[32] sndIV[16] rcvKey[32] rcvIV[16])
/// welcome       = major "." minor "." patch "." build SP                 ; first block from the server
/// </code>
/// </summary>
public static class Handshake
{
    public const int HeaderSize = 8;
    public const int MinBlockSize = 4096;
    public const int MaxBlockSize = 65536;
    public const int DefaultBlockSize = 4096;

    /// <summary>A 4096-bit DER SPKI is ~550 bytes; anything longer is not a key we could use.</summary>
    public const int MaxServerKeyLength = 2048;

    public const int ClientKeysPlaintextSize = 4 + 2 + 32 + 16 + 32 + 16;

    public static ReadOnlySpan<byte> Welcome => "0.3.1.0 "u8;

    /// <summary>The version we speak; a server with a higher major (first two numbers) is refused, a lower one accepted as the reference does.</summary>
    public static readonly int[] Version = [0, 3, 1, 0];

    public static byte[] EncodeServerHeader(int blockSize, ReadOnlySpan<byte> serverKey)
    {
        var output = new byte[HeaderSize + serverKey.Length];
        BinaryPrimitives.WriteUInt32BigEndian(output, (uint)blockSize);
        BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(4), 0);
        BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(6), (ushort)serverKey.Length);
        serverKey.CopyTo(output.AsSpan(HeaderSize));
        return output;
    }

    /// <summary>Reads the fixed part of the server header; the key length is checked before the key is read.</summary>
    public static void DecodeServerHeader(ReadOnlySpan<byte> header, out int blockSize, out int keyLength)
    {
        if (header.Length != HeaderSize) throw new SmpTransportException(TransportError.Handshake, "short header");
        var bs = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (bs is < MinBlockSize or > MaxBlockSize) throw new SmpTransportException(TransportError.BadBlockSize, $"block size {bs}");
        keyLength = BinaryPrimitives.ReadUInt16BigEndian(header[6..]);
        if (keyLength is 0 or > MaxServerKeyLength) throw new SmpTransportException(TransportError.Handshake, $"key length {keyLength}");
        blockSize = (int)bs;
    }

    public static byte[] EncodeClientKeys(int blockSize, SessionKeys keys)
    {
        var output = new byte[ClientKeysPlaintextSize];
        BinaryPrimitives.WriteUInt32BigEndian(output, (uint)blockSize);
        var o = output.AsSpan(6);
        keys.SndKey.CopyTo(o);
        keys.SndIv.CopyTo(o[32..]);
        keys.RcvKey.CopyTo(o[48..]);
        keys.RcvIv.CopyTo(o[80..]);
        return output;
    }

    public static SessionKeys DecodeClientKeys(ReadOnlySpan<byte> plaintext, out int blockSize)
    {
        if (plaintext.Length != ClientKeysPlaintextSize) throw new SmpTransportException(TransportError.Handshake, "client keys length");
        var bs = BinaryPrimitives.ReadUInt32BigEndian(plaintext);
        if (bs is < MinBlockSize or > MaxBlockSize) throw new SmpTransportException(TransportError.BadBlockSize, $"block size {bs}");
        blockSize = (int)bs;
        var k = plaintext[6..];
        return new SessionKeys(k[..32].ToArray(), k[32..48].ToArray(), k[48..80].ToArray(), k[80..96].ToArray());
    }

    /// <summary>Parses <c>a.b.c.d SP</c> at the start of the welcome block and checks the major version.</summary>
    public static int[] DecodeWelcome(ReadOnlySpan<byte> plaintext)
    {
        var sp = plaintext.IndexOf((byte)' ');
        if (sp <= 0 || sp > 64) throw new SmpTransportException(TransportError.Handshake, "no version in welcome");
        var parts = Encoding.ASCII.GetString(plaintext[..sp]).Split('.');
        if (parts.Length != 4) throw new SmpTransportException(TransportError.Handshake, "bad version in welcome");
        var v = new int[4];
        for (var i = 0; i < 4; i++)
        {
            if (parts[i].Length is 0 or > 9 || !parts[i].All(char.IsAsciiDigit))
                throw new SmpTransportException(TransportError.Handshake, "bad version in welcome");
            v[i] = int.Parse(parts[i], System.Globalization.CultureInfo.InvariantCulture);
        }
        if (v[0] > Version[0] || (v[0] == Version[0] && v[1] > Version[1])) throw new SmpTransportException(TransportError.Version, string.Join('.', v));
        return v;
    }
}

/// <summary>The session keys a client makes: it sends with Snd and receives with Rcv; the server the reverse.</summary>
public sealed record SessionKeys(byte[] SndKey, byte[] SndIv, byte[] RcvKey, byte[] RcvIv)
{
    public static SessionKeys Generate() => new(
        System.Security.Cryptography.RandomNumberGenerator.GetBytes(32),
        System.Security.Cryptography.RandomNumberGenerator.GetBytes(16),
        System.Security.Cryptography.RandomNumberGenerator.GetBytes(32),
        System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
}
