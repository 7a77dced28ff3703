//! Traditional DES-based crypt(3): 13 characters, a 2-character salt and 11 of
//! hash (what WildDuck's `hashedPassword` accepts as `des`). Written here, after
//! FIPS 46 and the crypt(3) conventions, because no maintained crate provides it:
//! RustCrypto's `des` has no salt-perturbed expansion, and `pwhash` is unmaintained
//! and pulls in a second, older RustCrypto stack. Only verification uses it (a
//! matching login rehashes to argon2id), so it works bit by bit for clarity.

const ALPHABET: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60,
    52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29,
    21, 13, 5, 28, 20, 12, 4,
];
const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41, 52,
    31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];
const SHIFTS: [usize; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];
const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6,
    64, 56, 48, 40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61,
    53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];
const FP: [u8; 64] = [
    40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30,
    37, 5, 45, 13, 53, 21, 61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27,
    34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25,
];
const E: [u8; 48] = [
    32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 16, 17, 18,
    19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
];
const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19,
    13, 30, 6, 22, 11, 4, 25,
];
const S: [[u8; 64]; 8] = [
    [
        14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12,
        11, 9, 5, 3, 8, 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9,
        1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
    ],
    [
        15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1,
        10, 6, 9, 11, 5, 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15,
        4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
    ],
    [
        10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5,
        14, 12, 11, 15, 1, 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6,
        9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
    ],
    [
        7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2,
        12, 1, 10, 14, 9, 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1,
        13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
    ],
    [
        2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15,
        10, 3, 9, 8, 6, 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14,
        2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
    ],
    [
        12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13,
        14, 0, 11, 3, 8, 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5,
        15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
    ],
    [
        4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5,
        12, 2, 15, 8, 6, 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4,
        10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
    ],
    [
        13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6,
        11, 0, 14, 9, 2, 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10,
        8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
    ],
];

/// Is `hash` shaped like a DES-crypt hash (13 characters of the crypt alphabet)?
pub fn is_des_crypt(hash: &str) -> bool {
    hash.len() == 13 && hash.bytes().all(|b| ALPHABET.contains(&b))
}

fn index(c: u8) -> u32 {
    ALPHABET.iter().position(|&a| a == c).unwrap_or(0) as u32
}

/// `out[i] = input[table[i] - 1]` (the tables count bits from 1).
fn permute<const N: usize>(input: &[u8], table: &[u8; N]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, &t) in out.iter_mut().zip(table) {
        *o = input[usize::from(t) - 1];
    }
    out
}

/// crypt(3) of `password` with the first two characters of `salt`.
pub fn des_crypt(password: &[u8], salt: &[u8]) -> String {
    let s0 = salt.first().copied().unwrap_or(b'.');
    let s1 = salt.get(1).copied().unwrap_or(b'.');
    let saltbits = index(s0) | (index(s1) << 6);

    // The key: the first 8 bytes, each shifted left one bit (7 bits per character).
    let mut key = [0u8; 64];
    for (i, &c) in password.iter().take(8).enumerate() {
        let byte = c << 1;
        for b in 0..8 {
            key[i * 8 + b] = (byte >> (7 - b)) & 1;
        }
    }
    let cd = permute(&key, &PC1);
    let (mut c, mut d) = ([0u8; 28], [0u8; 28]);
    c.copy_from_slice(&cd[..28]);
    d.copy_from_slice(&cd[28..]);
    let mut subkeys = [[0u8; 48]; 16];
    for (round, shift) in SHIFTS.iter().enumerate() {
        c.rotate_left(*shift);
        d.rotate_left(*shift);
        let mut joined = [0u8; 56];
        joined[..28].copy_from_slice(&c);
        joined[28..].copy_from_slice(&d);
        subkeys[round] = permute(&joined, &PC2);
    }

    // The salt swaps expansion outputs i and i + 24 for each of its 12 bits set.
    let mut e = E;
    for i in 0..12 {
        if saltbits >> i & 1 == 1 {
            e.swap(i, i + 24);
        }
    }

    let mut block = [0u8; 64];
    for _ in 0..25 {
        let ip = permute(&block, &IP);
        let (mut l, mut r) = ([0u8; 32], [0u8; 32]);
        l.copy_from_slice(&ip[..32]);
        r.copy_from_slice(&ip[32..]);
        for k in &subkeys {
            let expanded = permute(&r, &e);
            let mut sout = [0u8; 32];
            for (box_no, sbox) in S.iter().enumerate() {
                let x: Vec<u8> = (0..6)
                    .map(|j| expanded[box_no * 6 + j] ^ k[box_no * 6 + j])
                    .collect();
                let row = (x[0] << 1) | x[5];
                let col = (x[1] << 3) | (x[2] << 2) | (x[3] << 1) | x[4];
                let v = sbox[usize::from(row * 16 + col)];
                for b in 0..4 {
                    sout[box_no * 4 + b] = (v >> (3 - b)) & 1;
                }
            }
            let f = permute(&sout, &P);
            let mut next = [0u8; 32];
            for i in 0..32 {
                next[i] = l[i] ^ f[i];
            }
            l = r;
            r = next;
        }
        let mut pre = [0u8; 64];
        pre[..32].copy_from_slice(&r);
        pre[32..].copy_from_slice(&l);
        block = permute(&pre, &FP);
    }

    let mut out = String::with_capacity(13);
    out.push(char::from(ALPHABET[index(s0) as usize]));
    out.push(char::from(ALPHABET[index(s1) as usize]));
    for group in 0..11 {
        let mut v = 0usize;
        for b in 0..6 {
            let bit = block.get(group * 6 + b).copied().unwrap_or(0);
            v = (v << 1) | usize::from(bit);
        }
        out.push(char::from(ALPHABET[v]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_crypt3() {
        // Made with glibc crypt(3) (perl's crypt).
        assert_eq!(des_crypt(b"password", b"ab"), "abJnggxhB/yWI");
        assert_eq!(des_crypt(b"test", b"aa"), "aaqPiZY5xR5l.");
        // Only the first 8 characters count.
        assert_eq!(des_crypt(b"correct horse battery", b"Zz"), "ZziV3MgI7K8nk");
        assert_eq!(des_crypt(b"12345678X", b"./"), "./qw5JW./79Vg");
        assert!(is_des_crypt("abJnggxhB/yWI"));
        assert!(!is_des_crypt("$1$abJnggxhB/"));
    }
}
