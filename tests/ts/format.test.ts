import { afterEach, describe, expect, it } from "vitest";
import { exactNumber, formatBytes, formatCount, formatInteger, formatNumber, formatPercent, formatShape } from "../../src/tree/format";
import { setLanguage } from "../../src/tree/i18n";

describe("formatNumber: three significant digits that fit a narrow card", () => {
  it("writes values between 0.01 and 1000 plainly", () => {
    expect(formatNumber(-0.048123)).toBe("-0.0481");
    expect(formatNumber(0.29617)).toBe("0.296");
    expect(formatNumber(7)).toBe("7");
    expect(formatNumber(412.6)).toBe("413");
    expect(formatNumber(0.01)).toBe("0.01");
  });

  it("uses engineering notation outside, with exponents a multiple of 3", () => {
    expect(formatNumber(1234.5)).toBe("1.23e3");
    expect(formatNumber(-0.0048123)).toBe("-4.81e-3");
    expect(formatNumber(0.000048123)).toBe("48.1e-6");
    expect(formatNumber(3.4e38)).toBe("340e36");
    expect(formatNumber(999.96)).toBe("1e3");
    expect(formatNumber(999_600)).toBe("1e6");
    expect(formatNumber(1e-45)).toBe("1e-45");
  });

  it("is short for every magnitude and sign", () => {
    for (let e = -300; e <= 300; e += 7) {
      for (const x of [1.23456 * 10 ** e, -9.87654 * 10 ** e]) expect(formatNumber(x).length).toBeLessThanOrEqual(10);
    }
  });

  it("marks missing values, keeps zero, and gives every digit for the hover text", () => {
    expect(formatNumber(null)).toBe("—");
    expect(formatNumber(0)).toBe("0");
    expect(exactNumber(-0.048123456789)).toBe("-0.048123456789");
    expect(exactNumber(null)).toBe("no finite value");
  });
});

describe("numbers in the reader's locale", () => {
  afterEach(() => void setLanguage("en"));

  it("writes decimals, groups and percents the Turkish and Portuguese way", () => {
    setLanguage("tr");
    expect(formatNumber(-0.048123)).toBe("-0,0481");
    expect(formatNumber(1234.5)).toBe("1,23e3");
    expect(formatInteger(124439808)).toBe("124.439.808");
    expect(formatCount(124439808)).toBe("124,4M");
    expect(formatCount(12345)).toBe("12.345");
    expect(formatBytes(3 * 1024 * 1024)).toBe("3,00 MiB");
    expect(formatPercent(0.25)).toBe("%25");
    expect(exactNumber(-0.048123456789)).toBe("-0,048123456789");
    expect(formatShape([])).toBe("skaler");
    setLanguage("pt-BR");
    expect(formatNumber(0.29617)).toBe("0,296");
    expect(formatInteger(124439808)).toBe("124.439.808");
    expect(formatPercent(0.0456)).toBe("4,6%");
    expect(formatShape([8, 4])).toBe("8×4");
    setLanguage("en");
    expect(formatCount(124439808)).toBe("124.4M");
    expect(formatPercent(0.0456)).toBe("4.6%");
  });
});
