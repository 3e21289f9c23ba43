// Doctor-only texts of the phone layout, merged when a doctor page loads (not in the patient's first load).
import type { Composer } from 'vue-i18n'

let merged = false

export function mergeDoctorMessages(composer: Pick<Composer, 'mergeLocaleMessage'>): void {
  if (merged) return
  composer.mergeLocaleMessage('zh-CN', { doctor: { touchHint: '看图：上下滑动翻页 · 双指缩放 · 双击复位 · 底部按钮切换窗位、播放、网格' } })
  composer.mergeLocaleMessage('en', { doctor: { touchHint: 'Images: swipe up/down to scroll · pinch to zoom · double-tap to reset · buttons below for windows, play and grid' } })
  merged = true
}
