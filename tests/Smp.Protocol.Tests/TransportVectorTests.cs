using System.Text;
using Smp.Protocol.Transport;

namespace Smp.Protocol.Tests;

public class TransportVectorTests
{
    public static TheoryData<int> BlockIndexes => [0, 1, 2];

    [Theory]
    [MemberData(nameof(BlockIndexes))]
    public void Encrypting_the_vector_plaintext_reproduces_the_reference_block(int index)
    {
        using var doc = VectorFiles.Load("transport.json");
        var root = doc.RootElement;
        var key = Convert.FromBase64String(root.GetProperty("aes_key_b64").GetString()!);
        var baseIv = Convert.FromBase64String(root.GetProperty("base_iv_b64").GetString()!);
        var blockSize = root.GetProperty("block_size").GetInt32();
        var v = root.GetProperty("blocks")[index];
        var counter = v.GetProperty("counter").GetUInt32();
        var prefix = Encoding.ASCII.GetBytes(v.GetProperty("plaintext_prefix").GetString()!);
        var expected = Convert.FromBase64String(v.GetProperty("block_b64").GetString()!);

        Assert.Equal(Convert.FromBase64String(v.GetProperty("iv_b64").GetString()!), BlockCipher.IvFor(baseIv, counter));
        var cipher = new BlockCipher(key, baseIv, blockSize, counter);
        var block = new byte[blockSize];
        cipher.Encrypt(prefix, block);
        Assert.Equal(expected, block);

        var decipher = new BlockCipher(key, baseIv, blockSize, counter);
        var plain = new byte[blockSize - 16];
        Assert.True(decipher.TryDecrypt(expected, plain));
        Assert.Equal(prefix, BlockCipher.Unpad(plain).ToArray());
        Assert.Equal(counter + 1, decipher.Counter);
    }

    [Fact]
    public void A_block_with_one_flipped_bit_does_not_decrypt_but_the_counter_moves_on()
    {
        var key = new byte[32];
        var iv = new byte[16];
        var enc = new BlockCipher(key, iv, 4096);
        var b1 = new byte[4096];
        var b2 = new byte[4096];
        enc.Encrypt("one "u8, b1);
        enc.Encrypt("two "u8, b2);
        b1[100] ^= 1;
        var dec = new BlockCipher(key, iv, 4096);
        var plain = new byte[4080];
        Assert.False(dec.TryDecrypt(b1, plain));
        Assert.True(dec.TryDecrypt(b2, plain));
        Assert.Equal("two "u8.ToArray(), BlockCipher.Unpad(plain).ToArray());
    }
}
